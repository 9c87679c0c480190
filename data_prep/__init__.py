"""Dataset protocols: raw public datasets -> ``Sample(hr, lr, meta)``.

One module per dataset protocol, registered by name in :mod:`data_prep.registry`.
"""

from medsr_bench.data_prep.errors import DataError, DatasetMissing, Excluded
from medsr_bench.data_prep.registry import (
    Protocol,
    ResolvedSource,
    get_protocol,
    list_protocols,
    register_protocol,
)
from medsr_bench.data_prep.sample import Sample, SampleMeta

__all__ = [
    "DataError",
    "DatasetMissing",
    "Excluded",
    "Protocol",
    "ResolvedSource",
    "Sample",
    "SampleMeta",
    "get_protocol",
    "list_protocols",
    "register_protocol",
]

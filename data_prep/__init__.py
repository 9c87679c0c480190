"""Dataset protocols: raw public datasets -> ``Sample(hr, lr, meta)``.

One module per dataset protocol, registered by name in :mod:`data_prep.registry`.
"""

from data_prep.errors import DataError, DatasetMissing
from data_prep.registry import Protocol, get_protocol, list_protocols, register_protocol
from data_prep.sample import Sample, SampleMeta

__all__ = [
    "DataError",
    "DatasetMissing",
    "Protocol",
    "Sample",
    "SampleMeta",
    "get_protocol",
    "list_protocols",
    "register_protocol",
]

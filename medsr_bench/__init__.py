"""medsr-bench: reproducibility benchmark harness for medical-image super-resolution.

The installed layout is one namespace: ``medsr_bench.data_prep`` (protocols), ``medsr_bench.models``
(SR models), ``medsr_bench.benchmark`` (runner, metrics, report, CLI) on top of the foundation
``medsr_bench.core`` and the torchvision/basicsr shim ``medsr_bench.compat``. In the repository the
three layers keep their own top-level folders, mapped into this package by setuptools'
``package-dir``.
"""

__version__ = "0.2.0"

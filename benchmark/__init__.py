"""medsr-bench: suites, runner, metrics, report and CLI of the benchmark harness."""

__version__ = "0.1.0"

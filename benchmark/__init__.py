"""medsr-bench: suites, runner, metrics, report and CLI of the benchmark harness."""

from medsr_bench import __version__  # noqa: F401

"""``python -m medsr_bench``: the ``bench`` command."""

from medsr_bench.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()

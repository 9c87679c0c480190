"""The console's one plain-text table: a header row, a rule, left-aligned columns sized to their
widest cell (``bench models``, ``bench weights list``, ``bench settings``)."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Lines of a table: ``header``, a rule of ``-``, one line per row. Cells are ``str()``-ed;
    every column but the last is padded to its widest cell (the last is left as is, so a long
    free-text column does not pad every line); trailing spaces are stripped."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header) - 1)]

    def line(r: list[str]) -> str:
        padded = [f"{c:<{w}}" for c, w in zip(r, widths, strict=False)]
        return "  ".join([*padded, r[-1]]).rstrip()

    head = line(cells[0])
    return [head, "-" * len(head), *(line(r) for r in cells[1:])]

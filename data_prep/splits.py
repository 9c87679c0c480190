"""Seeded, order-independent selection and splitting of item ids.

Every function sorts its input first, so the result depends only on the *set* of ids and the seed
(never on directory listing order), and uses ``numpy.random.default_rng(seed)`` (PCG64, stable
across NumPy versions for these calls).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def seeded_sample(ids: Sequence[str], n: int, seed: int) -> list[str]:
    """``n`` ids drawn without replacement with ``seed``, returned in sorted order.

    ``n >= len(ids)`` returns every id (sorted).
    """
    pool = sorted(ids)
    if n >= len(pool):
        return pool
    idx = np.random.default_rng(seed).choice(len(pool), size=n, replace=False)
    return sorted(pool[i] for i in idx)


def evenly_spaced(items: Sequence, n: int) -> list:
    """``n`` items at evenly spaced positions, ends excluded (``linspace`` over the interior).

    For ``n >= len(items)`` every item. Used by ``limit=N`` so that N picks spread over the set
    (e.g. over the slices of a volume, not N edge slices).
    """
    m = len(items)
    if n >= m:
        return list(items)
    if n <= 0:
        return []
    pos = np.linspace(0, m - 1, n + 2)[1:-1]
    idx = sorted(set(int(round(p)) for p in pos))
    return [items[i] for i in idx]


def split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Integer counts summing to ``n`` for the given fractions (largest-remainder rounding).

    Ties in the remainder go to the earlier split.
    """
    f = np.asarray(fractions, dtype=np.float64)
    f = f / f.sum()
    raw = f * n
    base = np.floor(raw).astype(int)
    rem = n - int(base.sum())
    order = sorted(range(len(f)), key=lambda i: (-(raw[i] - base[i]), i))
    for i in order[:rem]:
        base[i] += 1
    return [int(v) for v in base]


def seeded_split(
    ids: Sequence[str],
    names: Sequence[str],
    fractions: Sequence[float],
    seed: int,
    strata: dict[str, Hashable] | None = None,
) -> dict[str, str]:
    """Assign every id to one split name: a seeded permutation cut by ``fractions``.

    With ``strata`` (id -> group, e.g. tumour grade) each group is split on its own with the same
    fractions, so the groups keep their proportions in every split. Returns ``{id: split_name}``;
    the splits are disjoint by construction.
    """
    groups: dict[Hashable, list[str]] = {}
    for i in sorted(ids):
        groups.setdefault(strata[i] if strata else None, []).append(i)
    out: dict[str, str] = {}
    for g_index, key in enumerate(sorted(groups, key=str)):
        members = groups[key]
        perm = np.random.default_rng([seed, g_index]).permutation(len(members))
        counts = split_counts(len(members), fractions)
        pos = 0
        for name, c in zip(names, counts, strict=True):
            for j in perm[pos:pos + c]:
                out[members[j]] = name
            pos += c
    return out

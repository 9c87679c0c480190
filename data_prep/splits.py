"""Seeded, order-independent selection and splitting of item ids.

Every function sorts its input first, so the result depends only on the *set* of ids and the seed
(never on directory listing order), and uses ``numpy.random.default_rng(seed)`` (PCG64, stable
across NumPy versions for these calls).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def seeded_order(ids: Sequence[str], seed: int) -> list[str]:
    """Every id in one fixed seeded order: a ``default_rng(seed)`` permutation of the sorted ids.

    The order depends only on the set of ids and the seed; its prefixes are the nested subsets
    that ``limit`` takes (the first 2 are inside the first 3).
    """
    pool = sorted(ids)
    return [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))]


def seeded_sample(ids: Sequence[str], n: int, seed: int) -> list[str]:
    """The first ``n`` ids of :func:`seeded_order`, returned in sorted order.

    Nested: ``seeded_sample(ids, n, s)`` is a subset of ``seeded_sample(ids, n + 1, s)``.
    ``n >= len(ids)`` returns every id (sorted).
    """
    return sorted(seeded_order(ids, seed)[: max(0, n)])


def spread_order(m: int) -> list[int]:
    """The indices ``0 .. m-1`` in a low-discrepancy order (van der Corput, base 2) so that every
    prefix is spread over the whole range: for m = 9 the first picks are 4, 2, 6, 1, 5 ...

    Used to take N evenly spread slices of a volume, nested in N (never N edge slices).
    """
    if m <= 0:
        return []
    out: list[int] = []
    seen: set[int] = set()
    k = 1
    while len(out) < m:
        # radical inverse of k in base 2, in (0, 1)
        x, f, j = 0.0, 0.5, k
        while j:
            x += f * (j & 1)
            j >>= 1
            f /= 2
        i = min(m - 1, int(x * m))
        if i not in seen:
            seen.add(i)
            out.append(i)
        k += 1
        if k > 4 * m + 64:  # fill any index the sequence has not reached (tiny m)
            out.extend(i for i in range(m) if i not in seen)
            break
    return out


def evenly_spaced(items: Sequence, n: int) -> list:
    """``n`` items spread over ``items`` (the first ``n`` of :func:`spread_order`), in their
    original order; every item for ``n >= len(items)``. Nested in ``n``."""
    m = len(items)
    if n >= m:
        return list(items)
    if n <= 0:
        return []
    return [items[i] for i in sorted(spread_order(m)[:n])]


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
    ensure: Sequence[str] = (),
) -> dict[str, str]:
    """Assign every id to one split name: a seeded permutation cut by ``fractions``.

    With ``strata`` (id -> group, e.g. tumour grade) each group is split on its own with the same
    fractions, so the groups keep their proportions in every split. Returns ``{id: split_name}``;
    the splits are disjoint by construction.

    ``ensure``: split names (usually the evaluated split) that must not come out empty when there
    are at least ``len(ensure) + 1`` ids: rounding a small set (2 volumes at 80/20) can leave them
    empty, so one id is moved to each from the largest split (in the largest stratum).
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
    if len(out) >= len(ensure) + 1:
        for name in ensure:
            have = [i for i in sorted(out) if out[i] == name]
            if have:
                continue
            sizes = {n: sum(1 for v in out.values() if v == n) for n in names if n not in ensure}
            donor = max(sizes, key=lambda n: (sizes[n], -list(names).index(n)))
            by_group: dict[Hashable, list[str]] = {}
            for i in sorted(out):
                if out[i] == donor:
                    by_group.setdefault(strata[i] if strata else None, []).append(i)
            grp = max(sorted(by_group, key=str), key=lambda g: len(by_group[g]))
            pick = by_group[grp][-1]  # deterministic: the last id of the largest stratum
            out[pick] = name
    return out

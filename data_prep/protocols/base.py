"""Shared machinery of the dataset protocols: finding the data, planning splits, skipping bad files.

A concrete protocol implements four hooks:

* ``resolve(data_root)``: which folder (or stand-in, or embedded demo source) holds the data;
* ``list_items(src)``: the raw units (files or volumes), sorted, as :class:`Item`;
* ``plan(src, items, ctx)``: ``[(item, split)]`` for every item the protocol keeps;
* ``pairs(src, item, split, ctx)``: the ``Sample`` objects one item gives (one image, or many slices).

Optional: ``regions(data_root, meta, settings=None)``: diagnostic masks aligned with a sample's HR
(:mod:`data_prep.regions`); none by default.

``samples()`` ties them together, applies ``limit`` and turns per-file :class:`DataError` into a
logged skip (or an error with ``strict=True``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from medsr_bench.data_prep.errors import DataError, DatasetMissing, Excluded
from medsr_bench.data_prep.io import sha256_file
from medsr_bench.data_prep.regions import RegionMasks
from medsr_bench.data_prep.registry import Protocol, ResolvedSource
from medsr_bench.data_prep.sample import Sample, SampleMeta
from medsr_bench.data_prep.splits import seeded_sample

log = logging.getLogger("data_prep")


@dataclass(frozen=True)
class Item:
    """One raw unit of a dataset.

    Attributes:
        item_id: stable id (file stem, case name).
        path: absolute path of the raw file.
        source: the path as written in outputs: relative to the data root when under it, else a
            package-qualified name (``skimage:data/retina.jpg``).
        group: optional stratum (BraTS grade) or sub-id.
        extra: facts known before reading (e.g. the demo transform applied).
    """

    item_id: str
    path: Path
    source: str
    group: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class RunContext:
    """Per-call state: strictness and the list collecting skipped files ``(source, reason)``."""

    strict: bool = False
    skipped: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    excluded: dict = field(default_factory=dict)

    def skip(self, source: str, err: Exception) -> None:
        """Record a skipped file (one log line), or re-raise when strict.

        An :class:`~data_prep.errors.Excluded` file (left out by the protocol's rule) is only
        counted in ``excluded`` (reason -> count), also under ``strict``.
        """
        if isinstance(err, Excluded):
            key = f"{err.problem} (expected {err.expected})" if err.expected else err.problem
            self.excluded[key] = self.excluded.get(key, 0) + 1
            return
        if self.strict:
            raise err
        reason = str(err)
        self.skipped.append((source, reason))
        log.warning("skipped %s", reason)


def relative_source(path: Path, data_root: Path | None) -> str:
    """``path`` relative to ``data_root`` (POSIX separators) when it lies under it, else absolute."""
    if data_root is not None:
        try:
            return Path(path).resolve().relative_to(Path(data_root).resolve()).as_posix()
        except ValueError:
            pass
    return Path(path).as_posix()


class BaseProtocol(Protocol):
    """Common ``resolve``/``samples`` logic; see the module docstring for the hooks.

    Class attributes (besides :class:`~data_prep.registry.Protocol`'s):
        eval_split: split yielded when ``split=None`` (``test`` for evaluation sets, ``train`` for
            fine-tuning sets, ``all`` for a set P1 scores whole, DRIVE).
        splits: the split names this protocol produces.
        dataset_id: id written into outputs when the primary folder is used.
        folder: the folder under the data root holding the dataset.
        standin: ``(folder, dataset_id, stands_in_for, note)`` used when ``folder`` is absent.
        default_limit: a demo's own limit when the caller gives none.
        version: code version of the protocol, stored in manifests; a prepared set written by
            another version is rebuilt.
    """

    eval_split: ClassVar[str] = "test"
    splits: ClassVar[tuple[str, ...]] = ("test",)
    dataset_id: ClassVar[str] = ""
    folder: ClassVar[str] = ""
    standin: ClassVar[tuple[str, str, str, str] | None] = None
    default_limit: ClassVar[int | None] = None
    is_demo: ClassVar[bool] = False
    # bump when the protocol code changes its output (invalidates caches). 2: nested --limit
    # subsets and the non-empty evaluated split rule.
    version: ClassVar[int] = 2

    #: how items are selected and split; stated in run.json for every dataset.
    selection_rule: ClassVar[str] = (
        "--limit N takes the first N items of one fixed seeded order (nested: --limit 3 contains "
        "--limit 2); items that contribute nothing (unreadable, filtered out by the protocol) are "
        "named and left out before the split is drawn; with at least two usable items the "
        "evaluated split gets at least one")
    region_settings_cls: ClassVar[type | None] = None  # settings dataclass of ``regions()``, if any

    def __init__(self, params=None):
        if params is not None and not isinstance(params, self.params_cls):
            raise TypeError(f"{self.name}: params must be {self.params_cls.__name__}, got {type(params).__name__}")
        super().__init__(params)

    # ------------------------------------------------------------------ hooks
    def resolve(self, data_root: Path) -> ResolvedSource:
        """Find ``<data_root>/<folder>`` (or the stand-in folder).

        Raises:
            DatasetMissing: neither exists; the message gives the layout and how to obtain it.
        """
        root = Path(data_root) if data_root is not None else Path(".")
        primary = root / self.folder
        if primary.is_dir():
            return ResolvedSource(self.dataset_id or self.name, primary)
        if self.standin is not None:
            sub, ds_id, for_name, note = self.standin
            if (root / sub).is_dir():
                return ResolvedSource(ds_id, root / sub, stand_in_for=for_name, note=note)
        raise DatasetMissing(primary, self.layout, self.how_to_get)

    def list_items(self, src: ResolvedSource) -> list[Item]:  # pragma: no cover - abstract
        raise NotImplementedError

    def plan(self, src: ResolvedSource, items: list[Item], ctx: RunContext) -> list[tuple[Item, str]]:
        """Default: every item in the single split ``splits[0]``."""
        return [(it, self.splits[0]) for it in items]

    def pairs(self, src: ResolvedSource, item: Item, split: str, ctx: RunContext,
              limit: int | None = None) -> Iterator[Sample]:  # pragma: no cover - abstract
        raise NotImplementedError

    def regions(self, data_root: Path | None, meta: SampleMeta, settings=None) -> RegionMasks:
        """Diagnostic regions of one sample: ``{name: bool (H, W)}`` aligned with its HR.

        Args:
            data_root: the data root the sample was prepared from.
            meta: the sample's :class:`SampleMeta` (from ``samples()`` or a prepared set).
            settings: the protocol's region settings (``region_settings_cls``), None = defaults.

        Returns:
            :class:`~data_prep.regions.RegionMasks`; empty when the protocol has no regions. A missing
            mask file is named in ``.notes`` (and logged), never raised.
        """
        return RegionMasks()

    def degrade_hr(self, hr: np.ndarray, meta: SampleMeta) -> np.ndarray:
        """The protocol's own HR -> LR degradation applied to any HR-grid image (the same code
        path ``pairs`` uses to make the LR), e.g. to degrade an SR output back to LR space.

        Args:
            hr: float32 ``(H, W)`` / ``(H, W, 3)`` in [0, 1] on the sample's HR grid.
            meta: the sample's :class:`SampleMeta` (bit depth, image id for seeded noise).

        Returns:
            float32 LR ``(H / scale, W / scale[, 3])`` in [0, 1].

        Raises:
            NotImplementedError: the protocol has no single-image degradation.
        """
        raise NotImplementedError(f"{self.name}: no HR -> LR degradation hook")

    # ------------------------------------------------------------------ driver
    def samples(
        self,
        data_root: Path,
        split: str | None = None,
        limit: int | None = None,
        *,
        strict: bool = False,
        skipped: list | None = None,
    ) -> Iterator[Sample]:
        """Yield the HR/LR pairs of ``split`` (None: ``eval_split``; ``"all"``: every split).

        Args:
            limit: N samples chosen deterministically (a seeded sample of the items, see
                :meth:`limit_items`); same N, same samples.
            strict: raise the first per-file :class:`DataError` instead of skipping the file.
            skipped: a list that receives ``(source, reason)`` for every skipped file.

        Raises:
            DatasetMissing, DataError (strict, or a problem with the whole dataset), ValueError
            (unknown split).
        """
        split = split or self.eval_split
        if split != "all" and split not in self.splits:
            known = ", ".join(dict.fromkeys([*self.splits, "all"]))
            raise ValueError(f"{self.name}: unknown split {split!r}; known: {known}")
        if limit is None:
            limit = self.default_limit
        self._data_root = None if self.is_demo else Path(data_root if data_root is not None else ".")
        src = self.resolve(data_root)
        ctx = RunContext(strict=strict, skipped=skipped if skipped is not None else [])
        self.last_context = ctx
        items = self.list_items(src)
        if not items:
            raise DataError(src.path, "no input files found", self.layout)
        check_unique_ids(items)
        planned = [(it, s) for it, s in self.plan(src, items, ctx) if split == "all" or s == split]
        yield from self.generate(src, planned, limit, ctx)

    def limit_items(self, planned: list[tuple[Item, str]], limit: int | None) -> list[tuple[Item, str]]:
        """``limit`` items: the first ``limit`` of a fixed seeded order of the ids (``params.seed``;
        nested: ``limit 3`` contains ``limit 2``), kept in plan order."""
        if limit is None or limit >= len(planned):
            return planned
        keep = set(seeded_sample([it.item_id for it, _ in planned], limit, self.params.seed + 1))
        return [(it, s) for it, s in planned if it.item_id in keep]

    def generate(self, src: ResolvedSource, planned: list[tuple[Item, str]], limit: int | None,
                 ctx: RunContext) -> Iterator[Sample]:
        """Default: one or more samples per item; ``limit`` selects items first."""
        n = 0
        for it, s in self.limit_items(planned, limit):
            try:
                out = list(self.pairs(src, it, s, ctx))
            except DataError as e:
                ctx.skip(it.source, e)
                continue
            for smp in out:
                if limit is not None and n >= limit:
                    return
                n += 1
                yield smp

    # ------------------------------------------------------------------ helpers
    def find_files(self, folder: Path, patterns: tuple[str, ...], recursive: bool = True) -> list[Path]:
        """Files under ``folder`` matching any glob pattern (case-sensitive), sorted by relative path."""
        found: set[Path] = set()
        for pat in patterns:
            found.update(p for p in (folder.rglob(pat) if recursive else folder.glob(pat)) if p.is_file())
        return sorted(found, key=lambda p: p.relative_to(folder).as_posix())

    def item_for(self, path: Path, item_id: str | None = None, group: str | None = None, **extra) -> Item:
        root = getattr(self, "_data_root", None)
        return Item(item_id or _stem(path), path, relative_source(path, root), group, extra)

    def make_sample(
        self,
        src: ResolvedSource,
        item: Item,
        image_id: str,
        split: str,
        hr: np.ndarray,
        lr: np.ndarray,
        *,
        orig_dtype: str,
        orig_data_range: float,
        bit_depth: int | None,
        extra: dict | None = None,
        sha256: str | None = None,
    ) -> Sample:
        """Build a :class:`Sample` with the dataset id / stand-in of ``src`` filled in."""
        meta = SampleMeta(
            dataset=src.dataset,
            image_id=image_id,
            split=split,
            scale=self.scale,
            source=item.source,
            source_sha256=sha256 or sha256_file(item.path),
            orig_dtype=orig_dtype,
            orig_data_range=float(orig_data_range),
            bit_depth=bit_depth,
            stand_in_for=src.stand_in_for,
            extra={**item.extra, **(extra or {})},
        )
        return Sample(np.ascontiguousarray(hr, dtype=np.float32), np.ascontiguousarray(lr, dtype=np.float32), meta)


def check_unique_ids(items: list[Item]) -> None:
    """Refuse two inputs whose names map to one image id (``x.png`` and ``x.png.gz``...).

    Raises:
        DataError: naming both files.
    """
    seen: dict[str, Item] = {}
    for it in items:
        if it.item_id in seen:
            raise DataError(it.source, f"maps to image id {it.item_id!r} like {seen[it.item_id].source}",
                            "one input file per image id (rename or remove one of the two)")
        seen[it.item_id] = it


def _stem(path: Path) -> str:
    name = path.name
    for suf in (".nii.gz", ".ppm.gz", ".gz"):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return path.stem

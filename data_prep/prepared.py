"""Cache of prepared HR/LR sets, keyed by the protocol's parameter hash.

Layout: ``<cache_dir>/<protocol.name>/<params_hash>/<selection>/`` where ``selection`` is the split
(``all``, ``test``...) plus ``-limit<N>`` when limited. Each holds ``hr/`` and ``lr/`` (8/16-bit PNG
when the data lies on that grid, else float32 ``.npy``), ``manifest.csv`` and ``manifest.json``.

A set is reused only when its manifest is complete and its source fingerprint (input files and sizes)
and parameter hash match; otherwise it is rebuilt in a temporary folder that replaces the old one
only when complete, so a failure never corrupts what was prepared before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from medsr_bench.data_prep.errors import DataError
from medsr_bench.data_prep.manifest import (
    FORMAT_VERSION,
    MANIFEST_CSV,
    MANIFEST_JSON,
    csv_bytes,
    decode_array,
    encode_array,
    json_bytes,
    read_manifest,
    row_meta,
    sample_row,
)
from medsr_bench.data_prep.registry import Protocol, ResolvedSource
from medsr_bench.data_prep.sample import Sample

log = logging.getLogger("data_prep")


def default_prepared_dir() -> Path:
    """Where prepared HR/LR sets are cached by default: ``$BENCH_PREPARED`` or ``results/prepared``
    (relative to the working directory; git-ignored). ``bench data prepare`` writes there and
    ``bench run`` reuses a set from there when its protocol-parameter hash matches."""
    env = os.environ.get("BENCH_PREPARED")
    return Path(env) if env else Path("results") / "prepared"


def selection_name(split: str, limit: int | None) -> str:
    """Folder name of a selection: ``test``, ``all``, ``test-limit5``."""
    return split if limit is None else f"{split}-limit{int(limit)}"


def resolve_selection(protocol: Protocol, split: str | None, limit: int | None) -> tuple[str, int | None]:
    """Fill in the protocol's defaults: evaluation split and (for demos) default limit."""
    split = split or protocol.eval_split
    if limit is None:
        limit = getattr(protocol, "default_limit", None)
    return split, limit


def set_dir(cache_dir: Path, protocol: Protocol, split: str, limit: int | None) -> Path:
    return Path(cache_dir) / protocol.name / protocol.params_hash() / selection_name(split, limit)


def source_fingerprint(protocol: Protocol, data_root: Path | None) -> tuple[ResolvedSource, str, int]:
    """``(resolved source, sha256 over the sorted (source, size) of every input, n inputs)``.

    Cheap (stat only); changes when a file is added, removed, renamed or resized.
    """
    src = protocol.resolve(data_root)
    protocol._data_root = None if getattr(protocol, "is_demo", False) else Path(data_root or ".")
    items = protocol.list_items(src)
    h = hashlib.sha256(src.dataset.encode())
    for it in sorted(items, key=lambda i: (i.source, i.item_id)):
        size = it.path.stat().st_size if it.path.exists() else -1
        h.update(f"\n{it.source}\t{it.item_id}\t{size}".encode())
    return src, h.hexdigest(), len(items)


def iter_samples(
    protocol: Protocol,
    data_root: Path | None,
    split: str | None = None,
    limit: int | None = None,
    cache_dir: Path | None = None,
    *,
    strict: bool = False,
    skipped: list | None = None,
    rebuild: bool = False,
) -> Iterator[Sample]:
    """Yield the samples of ``protocol`` / ``split`` / ``limit``, through the cache when given.

    Without ``cache_dir``: straight from ``protocol.samples``. With it: reuse the complete prepared
    set under :func:`set_dir` (or filter a complete ``all`` set when ``limit`` is None), else build
    it while yielding (the set is only published when the iteration finishes).

    Raises:
        DatasetMissing, DataError (strict, unreadable prepared file, duplicate image ids).
    """
    if cache_dir is None:
        yield from protocol.samples(data_root, split, limit, strict=strict, skipped=skipped)
        return
    split, limit = resolve_selection(protocol, split, limit)
    src, fp, _ = source_fingerprint(protocol, data_root)
    folder = set_dir(cache_dir, protocol, split, limit)
    if not rebuild:
        for cand, filt in ((folder, None), (set_dir(cache_dir, protocol, "all", None), split)):
            if filt is not None and (limit is not None or split == "all"):
                continue
            found = _valid(cand, protocol, fp)
            if found is not None:
                meta, rows = found
                log.info("%s: reusing prepared set %s", protocol.name, cand)
                if strict and meta.get("skipped"):
                    # the set was built leniently: a strict run must fail as a fresh build would
                    raise DataError(meta["skipped"][0]["reason"],
                                    f"skipped when the prepared set {cand} was built",
                                    "no skipped input under --strict")
                if skipped is not None:
                    skipped.extend((d["source"], d["reason"]) for d in meta.get("skipped", []))
                yield from load_rows(cand, [r for r in rows if filt is None or r["split"] == filt])
                return
    yield from build(protocol, data_root, split, limit, folder, src, fp, strict=strict, skipped=skipped)


def ensure_prepared(protocol: Protocol, data_root: Path | None, split: str | None, limit: int | None,
                    cache_dir: Path, *, strict: bool = False, progress=None) -> tuple[Path, dict, list[dict]]:
    """Make sure the prepared set of ``protocol`` / ``split`` / ``limit`` exists in ``cache_dir``
    (building it when absent or stale) and return ``(folder, manifest meta, manifest rows)``.

    The rows are those of ``split`` in the order they were written; a complete ``all`` set is
    reused for an unlimited split (its rows filtered). Building happens once, before a run fans out
    to workers, so shards only read it (no race between nodes). ``progress`` (optional callable
    taking the number of samples written) is called as samples are built.

    Raises:
        DatasetMissing, DataError (strict, unreadable input, duplicate ids).
    """
    split, limit = resolve_selection(protocol, split, limit)
    src, fp, _ = source_fingerprint(protocol, data_root)
    folder = set_dir(cache_dir, protocol, split, limit)
    candidates = [(folder, None)]
    if limit is None and split != "all":
        candidates.append((set_dir(cache_dir, protocol, "all", None), split))
    for cand, filt in candidates:
        found = _valid(cand, protocol, fp)
        if found is not None:
            meta, rows = found
            if strict and meta.get("skipped"):
                raise DataError(meta["skipped"][0]["reason"],
                                f"skipped when the prepared set {cand} was built",
                                "no skipped input under --strict")
            return cand, meta, [r for r in rows if filt is None or r["split"] == filt]
    for _ in build(protocol, data_root, split, limit, folder, src, fp, strict=strict):
        if progress is not None:
            progress(1)
    found = read_manifest(folder)
    if found is None:  # pragma: no cover - build() publishes a complete manifest or raises
        raise DataError(folder, "prepared set missing after build", "a complete manifest")
    return folder, found[0], found[1]


def _valid(folder: Path, protocol: Protocol, fingerprint: str):
    found = read_manifest(folder)
    if found is None:
        return None
    meta, _ = found
    if (meta.get("params_hash") != protocol.params_hash() or meta.get("source_fingerprint") != fingerprint
            or meta.get("protocol_version") != getattr(protocol, "version", 1)):
        log.info("%s: prepared set %s is stale (parameters or inputs changed); rebuilding", protocol.name, folder)
        return None
    return found


def load_rows(folder: Path, rows: list[dict]) -> Iterator[Sample]:
    """Samples of manifest ``rows`` read back from ``folder`` (bit-exact with what was written)."""
    for r in rows:
        hr = decode_array(folder / r["hr_file"], r["hr_sha256"])
        lr = decode_array(folder / r["lr_file"], r["lr_sha256"])
        yield Sample(hr, lr, row_meta(r))


def build(protocol: Protocol, data_root: Path | None, split: str, limit: int | None, folder: Path,
          src: ResolvedSource, fingerprint: str, *, strict: bool = False,
          skipped: list | None = None) -> Iterator[Sample]:
    """Prepare a set into a temporary sibling folder, yielding samples as they are written; on
    completion write the manifest and swap the folder in with ``os.replace``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".tmp-{folder.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "hr").mkdir(parents=True)
    (tmp / "lr").mkdir()
    skip_list: list = []
    rows: list[dict] = []
    seen: set[str] = set()
    ph = protocol.params_hash()
    try:
        for s in protocol.samples(data_root, split, limit, strict=strict, skipped=skip_list):
            iid = s.meta.image_id
            if iid in seen:
                raise DataError(s.meta.source, f"duplicate image id {iid!r}", "unique image ids")
            seen.add(iid)
            hb, hs, hdt = encode_array(s.hr, s.meta.bit_depth)
            lb, ls, _ = encode_array(s.lr, s.meta.bit_depth)
            (tmp / "hr" / f"{iid}{hs}").write_bytes(hb)
            (tmp / "lr" / f"{iid}{ls}").write_bytes(lb)
            rows.append(sample_row(s, f"hr/{iid}{hs}", f"lr/{iid}{ls}", hb, lb, hdt, ph))
            yield s
        ctx = getattr(protocol, "last_context", None)
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["split"]] = counts.get(r["split"], 0) + 1
        meta = {
            "format_version": FORMAT_VERSION, "complete": True,
            "protocol": protocol.name, "protocol_version": getattr(protocol, "version", 1),
            "title": protocol.title, "paper": protocol.paper,
            "scale": protocol.scale, "params": protocol.params_dict(), "params_hash": ph,
            "dataset": src.dataset, "stand_in_for": src.stand_in_for, "note": src.note,
            "split": split, "limit": limit, "source_fingerprint": fingerprint,
            "n_samples": len(rows), "counts": counts,
            "protocol_counts": getattr(ctx, "counts", {}),
            "n_skipped": len(skip_list),
            "skipped": [{"source": a, "reason": b} for a, b in skip_list],
            "excluded": dict(sorted(getattr(ctx, "excluded", {}).items())),
        }
        (tmp / MANIFEST_CSV).write_bytes(csv_bytes(rows))
        (tmp / MANIFEST_JSON).write_bytes(json_bytes(meta))
        _swap_in(tmp, folder)
        if skipped is not None:
            skipped.extend(skip_list)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(tmp: Path, folder: Path) -> None:
    """Replace ``folder`` by the complete ``tmp`` (the old set is kept until the new one is in)."""
    old = folder.parent / f".old-{folder.name}-{os.getpid()}"
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)

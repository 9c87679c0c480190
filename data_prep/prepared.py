"""Cache of prepared HR/LR sets, keyed by the protocol's parameter hash.

Layout: ``<cache_dir>/<protocol.name>/<params_hash>/<selection>/`` where ``selection`` is the split
(``all``, ``test``...) plus ``-limit<N>`` when limited. Each holds ``hr/`` and ``lr/`` (8/16-bit PNG
when the data lies on that grid, else float32 ``.npy``), ``manifest.csv`` and ``manifest.json``.

A set is reused only when its manifest is complete and its source fingerprint and parameter hash
match; otherwise it is rebuilt in a temporary folder that replaces the old one only when complete,
so a failure never corrupts what was prepared before. The fingerprint is keyed by content: the
sha256 of every input file (a folder input: of every file under it). Hashes are memoised by a stat
key (size, mtime, ctime, inode) in ``<cache_dir>/.source-hashes.json``; ctime cannot be set back by
a user, so a file rewritten in place (same size, even with its mtime restored) is hashed again. A
stale set is rebuilt with one warning naming the first changed input. Temporary folders
(``.tmp-*`` / ``.old-*``) left by a killed build are removed by the next build of that protocol.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from medsr_bench.core import atomic_write_json, sha256_file
from medsr_bench.data_prep.errors import DataError
from medsr_bench.data_prep.io import DEFAULT_MAX_PIXELS, max_pixels
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


HASH_MEMO = ".source-hashes.json"
_MEMO: dict[str, list] = {}  # abs path -> [size, mtime_ns, ctime_ns, ino, sha256] (this process)


def _stat_key(st: os.stat_result) -> list:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def file_hash(path: Path, memo: dict[str, list] | None = None) -> str:
    """sha256 of a file's bytes, reused from ``memo`` only while its stat key is unchanged
    (``"missing"`` for an absent file). ``memo`` is updated in place."""
    memo = _MEMO if memo is None else memo
    try:
        st = path.stat()
    except OSError:
        return "missing"
    key = str(path.resolve())
    hit = memo.get(key)
    if hit is not None and hit[:4] == _stat_key(st):
        return hit[4]

    digest = sha256_file(path)
    memo[key] = [*_stat_key(st), digest]
    return digest


def content_hash(path: Path, memo: dict[str, list] | None = None) -> str:
    """Content identity of one input: a file's sha256, or for a folder (a volume case, a DICOM
    series) the sha256 over the sorted (relative path, sha256) of every file under it."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256(b"dir")
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"\n{f.relative_to(path).as_posix()}\t{file_hash(f, memo)}".encode())
        return h.hexdigest()
    return file_hash(path, memo)


def _load_memo(cache_dir: Path | None) -> dict[str, list]:
    if cache_dir is None:
        return _MEMO
    import json

    try:
        disk = json.loads((Path(cache_dir) / HASH_MEMO).read_text())
        if isinstance(disk, dict):
            for k, v in disk.items():
                _MEMO.setdefault(k, v)
    except (OSError, ValueError):
        pass
    return _MEMO


def _save_memo(cache_dir: Path | None) -> None:
    if cache_dir is None:
        return

    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_json(Path(cache_dir) / HASH_MEMO, _MEMO)
    except OSError:  # a read-only cache still works, it only hashes again next time
        log.debug("cannot write %s", Path(cache_dir) / HASH_MEMO)


def source_inputs(protocol: Protocol, data_root: Path | None,
                  cache_dir: Path | None = None) -> tuple[ResolvedSource, dict[str, str]]:
    """``(resolved source, {source: content sha256})`` of every input of ``protocol``.

    Raises:
        DatasetMissing; DataError (two inputs with one image id, naming both).
    """
    src = protocol.resolve(data_root)
    protocol._data_root = None if getattr(protocol, "is_demo", False) else Path(data_root or ".")
    items = protocol.list_items(src)
    from medsr_bench.data_prep.protocols.base import check_unique_ids

    check_unique_ids(items)
    memo = _load_memo(cache_dir)
    inputs = {f"{it.source}\t{it.item_id}": content_hash(it.path, memo)
              for it in sorted(items, key=lambda i: (i.source, i.item_id))}
    _save_memo(cache_dir)
    return src, inputs


def fingerprint_of(dataset: str, inputs: dict[str, str]) -> str:
    """sha256 over the dataset id and the sorted (source, image id, content sha256) of its inputs."""
    h = hashlib.sha256(dataset.encode())
    for k in sorted(inputs):
        h.update(f"\n{k}\t{inputs[k]}".encode())
    return h.hexdigest()


def source_fingerprint(protocol: Protocol, data_root: Path | None,
                       cache_dir: Path | None = None) -> tuple[ResolvedSource, str, int]:
    """``(resolved source, content fingerprint of every input, n inputs)``: changes when a file is
    added, removed, renamed or its bytes change (even at the same size)."""
    src, inputs = source_inputs(protocol, data_root, cache_dir)
    return src, fingerprint_of(src.dataset, inputs), len(inputs)


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
    src, inputs = source_inputs(protocol, data_root, cache_dir)
    fp = fingerprint_of(src.dataset, inputs)
    folder = set_dir(cache_dir, protocol, split, limit)
    if not rebuild:
        for cand, filt in ((folder, None), (set_dir(cache_dir, protocol, "all", None), split)):
            if filt is not None and (limit is not None or split == "all"):
                continue
            found = _valid(cand, protocol, fp, inputs)
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
    yield from build(protocol, data_root, split, limit, folder, src, fp, strict=strict, skipped=skipped,
                     inputs=inputs)


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
    src, inputs = source_inputs(protocol, data_root, cache_dir)
    fp = fingerprint_of(src.dataset, inputs)
    folder = set_dir(cache_dir, protocol, split, limit)
    candidates = [(folder, None)]
    if limit is None and split != "all":
        candidates.append((set_dir(cache_dir, protocol, "all", None), split))
    for cand, filt in candidates:
        found = _valid(cand, protocol, fp, inputs)
        if found is not None:
            meta, rows = found
            if strict and meta.get("skipped"):
                raise DataError(meta["skipped"][0]["reason"],
                                f"skipped when the prepared set {cand} was built",
                                "no skipped input under --strict")
            return cand, meta, [r for r in rows if filt is None or r["split"] == filt]
    for _ in build(protocol, data_root, split, limit, folder, src, fp, strict=strict, inputs=inputs):
        if progress is not None:
            progress(1)
    found = read_manifest(folder)
    if found is None:  # pragma: no cover - build() publishes a complete manifest or raises
        raise DataError(folder, "prepared set missing after build", "a complete manifest")
    return folder, found[0], found[1]


def _valid(folder: Path, protocol: Protocol, fingerprint: str, inputs: dict[str, str] | None = None):
    found = read_manifest(folder)
    if found is None:
        return None
    meta, _ = found
    if meta.get("params_hash") != protocol.params_hash() or \
            meta.get("protocol_version") != getattr(protocol, "version", 1):
        log.info("%s: prepared set %s is stale (parameters changed); rebuilding", protocol.name, folder)
        return None
    if meta.get("max_pixels", DEFAULT_MAX_PIXELS) != max_pixels():  # it decides what is skipped
        log.info("%s: prepared set %s was built under max_pixels %s (now %s); rebuilding",
                 protocol.name, folder, meta.get("max_pixels", DEFAULT_MAX_PIXELS), max_pixels())
        return None
    if meta.get("source_fingerprint") != fingerprint:
        log.warning("%s: prepared set %s was built from other inputs (%s); rebuilding",
                    protocol.name, folder, _what_changed(meta.get("inputs"), inputs or {}))
        return None
    return found


def _what_changed(old: dict | None, new: dict[str, str]) -> str:
    """The first input that differs between a manifest's ``inputs`` and the current ones."""
    if not isinstance(old, dict):
        return "fingerprint of an older format"
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            src = k.split("\t", 1)[0]
            what = ("added" if k not in old else "removed" if k not in new else "content changed")
            n = sum(old.get(j) != new.get(j) for j in set(old) | set(new))
            return f"{src} {what}" + (f", and {n - 1} more" if n > 1 else "")
    return "fingerprint differs"


def load_rows(folder: Path, rows: list[dict]) -> Iterator[Sample]:
    """Samples of manifest ``rows`` read back from ``folder`` (bit-exact with what was written)."""
    for r in rows:
        hr = decode_array(folder / r["hr_file"], r["hr_sha256"])
        lr = decode_array(folder / r["lr_file"], r["lr_sha256"])
        yield Sample(hr, lr, row_meta(r))


def build(protocol: Protocol, data_root: Path | None, split: str, limit: int | None, folder: Path,
          src: ResolvedSource, fingerprint: str, *, strict: bool = False,
          skipped: list | None = None, inputs: dict[str, str] | None = None) -> Iterator[Sample]:
    """Prepare a set into a temporary sibling folder, yielding samples as they are written; on
    completion write the manifest and swap the folder in with ``os.replace``. Temporaries left
    by a killed build on this host are removed first (:func:`clean_temporaries`).

    Raises:
        DataError: duplicate image ids; the cache cannot be written (disk full, read-only), naming
            the folder.
    """
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        clean_temporaries(folder.parent)
        tmp = folder.parent / f".tmp-{folder.name}-{_host()}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "hr").mkdir(parents=True)
        (tmp / "lr").mkdir()
    except OSError as e:
        raise DataError(folder.parent, f"cannot write the prepared cache ({e.strerror or e})",
                        "a writable folder with free space (--prepared-dir)") from e
    try:
        yield from _build_into(tmp, protocol, data_root, split, limit, folder, src, fingerprint,
                               strict=strict, skipped=skipped, inputs=inputs)
    except OSError as e:  # readers raise DataError: an OSError here is writing the set
        raise DataError(folder, f"cannot write the prepared set ({e.strerror or e})",
                        "a writable folder with free space (--prepared-dir)") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _host() -> str:
    import socket

    return socket.gethostname().replace("-", "_")


def clean_temporaries(parent: Path) -> list[Path]:
    """Remove the ``.tmp-*`` / ``.old-*`` folders under ``parent`` whose building process (this
    host, pid in the name) is gone; returns what was removed. Another host's are left alone."""
    removed = []
    for p in Path(parent).glob(".tmp-*") if Path(parent).is_dir() else []:
        pid = p.name.rsplit("-", 1)[-1]
        host = p.name.rsplit("-", 2)[-2] if p.name.count("-") >= 3 else ""
        if host != _host() or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
        log.warning("removed %s left by a killed preparation", p)
    for p in Path(parent).glob(".old-*") if Path(parent).is_dir() else []:
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _build_into(tmp: Path, protocol: Protocol, data_root: Path | None, split: str,
                limit: int | None, folder: Path, src: ResolvedSource, fingerprint: str, *,
                strict: bool, skipped: list | None, inputs: dict[str, str] | None) -> Iterator[Sample]:
    skip_list: list = []
    rows: list[dict] = []
    seen: dict[str, str] = {}
    ph = protocol.params_hash()
    for s in protocol.samples(data_root, split, limit, strict=strict, skipped=skip_list):
        iid = s.meta.image_id
        if iid in seen:
            raise DataError(s.meta.source, f"image id {iid!r} already used by {seen[iid]}",
                            "one image id per input (rename one of the two files)")
        seen[iid] = s.meta.source
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
        "max_pixels": max_pixels(),
        "n_samples": len(rows), "counts": counts,
        "protocol_counts": getattr(ctx, "counts", {}),
        "n_skipped": len(skip_list),
        "skipped": [{"source": a, "reason": b} for a, b in skip_list],
        "excluded": dict(sorted(getattr(ctx, "excluded", {}).items())),
        "inputs": dict(sorted((inputs or {}).items())),
    }
    (tmp / MANIFEST_CSV).write_bytes(csv_bytes(rows))
    (tmp / MANIFEST_JSON).write_bytes(json_bytes(meta))
    _swap_in(tmp, folder)
    if skipped is not None:
        skipped.extend(skip_list)


def _swap_in(tmp: Path, folder: Path) -> None:
    """Replace ``folder`` by the complete ``tmp`` (the old set is kept until the new one is in)."""
    old = folder.parent / f".old-{folder.name}-{_host()}-{os.getpid()}"
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)

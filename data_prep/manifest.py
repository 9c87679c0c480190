"""Prepared-set files: lossless HR/LR storage and the manifest (``manifest.csv`` + ``manifest.json``).

``manifest.csv`` has one row per sample (columns ``COLUMNS``); ``manifest.json`` holds the protocol,
its parameters and hash, the source fingerprint, counts per split, and the skipped / excluded files.
Both are written deterministically (sorted keys, no timestamps, no absolute paths), so the same
inputs and settings give byte-identical files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import cv2
import numpy as np

from medsr_bench.core import atomic_write_bytes  # noqa: F401  (re-exported for callers)
from medsr_bench.data_prep.errors import DataError
from medsr_bench.data_prep.sample import Sample, SampleMeta

MANIFEST_CSV = "manifest.csv"
MANIFEST_JSON = "manifest.json"
FORMAT_VERSION = 1

COLUMNS = (
    "image_id", "split", "dataset", "stand_in_for", "scale", "source", "source_sha256",
    "hr_file", "lr_file", "hr_sha256", "lr_sha256", "hr_shape", "lr_shape", "stored_dtype",
    "bit_depth", "hr_min", "hr_max", "lr_min", "lr_max", "orig_dtype", "orig_data_range",
    "params_hash", "extra",
)


# ---------------------------------------------------------------- arrays
def encode_array(x: np.ndarray, bit_depth: int | None) -> tuple[bytes, str, str]:
    """Lossless bytes of a float32 [0, 1] image: PNG when it lies exactly on the 8/16-bit grid of
    ``bit_depth``, else ``.npy``. Returns ``(bytes, suffix, stored_dtype)``."""
    if bit_depth in (8, 16):
        peak = np.float32(2**bit_depth - 1)
        dt = np.uint8 if bit_depth == 8 else np.uint16
        u = np.round(x * peak).astype(dt)
        if np.array_equal(u.astype(np.float32) / peak, x):
            img = u if u.ndim == 2 else cv2.cvtColor(u, cv2.COLOR_RGB2BGR)
            ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 6])
            if not ok:  # pragma: no cover - OpenCV failure
                raise RuntimeError("PNG encoding failed")
            return buf.tobytes(), ".png", str(np.dtype(dt))
    bio = io.BytesIO()
    np.save(bio, np.ascontiguousarray(x, dtype=np.float32), allow_pickle=False)
    return bio.getvalue(), ".npy", "float32"


def decode_array(path: Path, sha256: str | None = None) -> np.ndarray:
    """Inverse of :func:`encode_array`: float32 [0, 1] ``(H, W)`` / ``(H, W, 3)``.

    With ``sha256`` (from the manifest) the file's bytes are checked first.

    Raises:
        DataError: missing or unreadable file, or bytes that differ from the manifest.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(path, f"cannot read prepared file ({e.strerror})", "a file written by bench data prepare") from e
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise DataError(path, "prepared file changed since it was written (sha256 mismatch)",
                        "the bytes recorded in manifest.csv; run bench data prepare --rebuild")
    if path.suffix == ".npy":
        try:
            return np.load(io.BytesIO(data), allow_pickle=False).astype(np.float32, copy=False)
        except (OSError, ValueError) as e:
            raise DataError(path, f"cannot read prepared array ({e})", "a .npy written by bench data prepare") from e
    u = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if u is None:
        raise DataError(path, "cannot read prepared PNG", "a PNG written by bench data prepare")
    if u.ndim == 3:
        u = cv2.cvtColor(u, cv2.COLOR_BGR2RGB)
    return u.astype(np.float32) / np.float32(np.iinfo(u.dtype).max)


# ---------------------------------------------------------------- rows
def sample_row(s: Sample, hr_file: str, lr_file: str, hr_bytes: bytes, lr_bytes: bytes,
               stored_dtype: str, params_hash: str) -> dict:
    m = s.meta
    return {
        "image_id": m.image_id, "split": m.split, "dataset": m.dataset,
        "stand_in_for": m.stand_in_for or "", "scale": m.scale, "source": m.source,
        "source_sha256": m.source_sha256, "hr_file": hr_file, "lr_file": lr_file,
        "hr_sha256": hashlib.sha256(hr_bytes).hexdigest(), "lr_sha256": hashlib.sha256(lr_bytes).hexdigest(),
        "hr_shape": "x".join(map(str, s.hr.shape)), "lr_shape": "x".join(map(str, s.lr.shape)),
        "stored_dtype": stored_dtype, "bit_depth": "" if m.bit_depth is None else m.bit_depth,
        "hr_min": repr(float(s.hr.min())), "hr_max": repr(float(s.hr.max())),
        "lr_min": repr(float(s.lr.min())), "lr_max": repr(float(s.lr.max())),
        "orig_dtype": m.orig_dtype, "orig_data_range": repr(float(m.orig_data_range)),
        "params_hash": params_hash, "extra": json.dumps(m.extra, sort_keys=True, default=str),
    }


def row_meta(row: dict) -> SampleMeta:
    """Rebuild :class:`SampleMeta` from a manifest row."""
    return SampleMeta(
        dataset=row["dataset"], image_id=row["image_id"], split=row["split"], scale=int(row["scale"]),
        source=row["source"], source_sha256=row["source_sha256"], orig_dtype=row["orig_dtype"],
        orig_data_range=float(row["orig_data_range"]),
        bit_depth=int(row["bit_depth"]) if row["bit_depth"] else None,
        stand_in_for=row["stand_in_for"] or None, extra=json.loads(row["extra"]),
    )


def csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def json_bytes(obj: dict) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=2, default=str) + "\n").encode()


def read_manifest(folder: Path) -> tuple[dict, list[dict]] | None:
    """``(manifest.json dict, csv rows)`` of a complete prepared set, or None when absent/incomplete."""
    mj, mc = folder / MANIFEST_JSON, folder / MANIFEST_CSV
    if not (mj.is_file() and mc.is_file()):
        return None
    try:
        meta = json.loads(mj.read_text())
        with open(mc, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError):
        return None
    if not meta.get("complete") or meta.get("format_version") != FORMAT_VERSION or len(rows) != meta.get("n_samples"):
        return None
    return meta, rows

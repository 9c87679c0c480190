"""Tiny synthetic dataset files for the data_prep tests (written to a tmp_path, never committed).

Each writer uses the format's own library (Pillow, nibabel, pydicom), so the readers are tested
against real encoders. Sizes are small so that every test runs in well under a second.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np


def rng_image(shape, seed: int = 0, dtype=np.uint8, hi: int = 255) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, hi + 1, size=shape).astype(dtype)


# ---------------------------------------------------------------- raster files
def write_png(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    """PNG via Pillow: uint8 (H,W) -> L, (H,W,3) -> RGB, (H,W,4) -> RGBA; uint16 (H,W) -> 16-bit."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    if arr.dtype == np.uint16:
        im = Image.fromarray(arr)  # Pillow writes 16-bit grayscale PNG (mode I;16)
    else:
        im = Image.fromarray(arr, mode=mode) if mode else Image.fromarray(arr)
    im.save(path)
    return path


def write_tiff(path: Path, arr: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format="TIFF")
    return path


def write_ppm_gz(path: Path, arr: np.ndarray) -> Path:
    """Binary PPM (P6) gzip-compressed with a fixed mtime (reproducible bytes)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PPM")
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
        gz.write(buf.getvalue())
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# ---------------------------------------------------------------- NIfTI
def write_nifti(path: Path, vol: np.ndarray) -> Path:
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(vol, np.diag([-1.0, -1.0, 1.0, 1.0])), str(path))
    return path


def brain_volume(shape=(24, 24, 10), blank=(0, 1, 9), seed=0, value_range=(100, 900)) -> np.ndarray:
    """int16 volume with a bright disc ("brain") on every slice except the ``blank`` indices."""
    h, w, z = shape
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2
    vol = np.zeros(shape, np.int16)
    for k in range(z):
        if k in blank:
            continue
        vol[..., k] = np.where(disc, rng.integers(*value_range, size=(h, w)), 0)
    return vol


def make_brats_tree(root: Path, cases: dict[str, list[str]], shape=(24, 24, 10), blank=(0, 1, 9)) -> Path:
    """``root/BraTS2018/MICCAI_BraTS_2018_Data_Training/{HGG,LGG}/<case>/<case>_t1.nii.gz``."""
    base = root / "BraTS2018" / "MICCAI_BraTS_2018_Data_Training"
    for i, (grade, names) in enumerate(sorted(cases.items())):
        for j, name in enumerate(names):
            write_nifti(base / grade / name / f"{name}_t1.nii.gz", brain_volume(shape, blank, seed=10 * i + j))
    return base


# ---------------------------------------------------------------- DICOM
def write_dicom(path: Path, pixels: np.ndarray, *, slope: float = 1.0, intercept: float = 0.0,
                modality: str = "CT", photometric: str = "MONOCHROME2", frames: int = 1,
                transfer_syntax: str | None = None, pixel_bytes: bytes | None = None) -> Path:
    """A minimal valid DICOM file written by pydicom (int16 pixels; optional multi-frame or a
    compressed transfer syntax with the given encapsulated ``pixel_bytes``)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    uid = "1.2.826.0.1.3680043.8.498." + str(int(hashlib.sha256(str(path).encode()).hexdigest()[:12], 16))
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = transfer_syntax or ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["series"])
    ds.Modality = modality
    ds.PatientName = "TEST"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    rows, cols = pixels.shape[-2:]
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if frames > 1:
        ds.NumberOfFrames = frames
    if pixel_bytes is not None:
        ds.PixelData = encapsulate([pixel_bytes])
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = np.ascontiguousarray(pixels.astype("<i2")).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def textured(shape=(32, 32), seed=0, frac=1.0, offset=-500) -> np.ndarray:
    """int16 image: noise in the first ``frac`` of the columns, flat elsewhere, so that the detail
    score P_D grows with ``frac`` whatever the intensity mapping (for P_D ranking tests)."""
    img = np.full(shape, offset, np.int32)
    w = max(1, int(round(shape[1] * frac)))
    img[:, :w] += rng_image((shape[0], w), seed, np.int32, 1000)
    img[0, -1] = offset + 1000  # same min/max in every image
    return img.astype(np.int16)


# ---------------------------------------------------------------- snapshots
def snapshot(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder`` (to prove outputs are untouched);
    the prepared cache's input-hash memo (``.source-hashes.json``, a cache of hashes) is left out."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".source-hashes.json"}

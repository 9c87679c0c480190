"""Readers on tiny files written by the formats' own libraries."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import (
    rng_image,
    truncate,
    write_dicom,
    write_nifti,
    write_png,
    write_ppm_gz,
    write_tiff,
)

from medsr_bench.data_prep.errors import DataError
from medsr_bench.data_prep.io import (
    is_dicom_file,
    read_dicom,
    read_nifti_volume,
    read_raster,
    sha256_file,
    to_gray,
)


def test_png_8bit_gray_and_rgb(tmp_path):
    g = rng_image((6, 5))
    img = read_raster(write_png(tmp_path / "g.png", g))
    assert img.bit_depth == 8 and img.pixels.dtype == np.uint8 and img.data_range == 255
    np.testing.assert_array_equal(img.pixels, g)
    c = rng_image((6, 5, 3), 1)
    np.testing.assert_array_equal(read_raster(write_png(tmp_path / "c.png", c)).pixels, c)


def test_png_16bit_is_kept_16bit(tmp_path):
    a = rng_image((5, 4), 2, np.uint16, 65535)
    img = read_raster(write_png(tmp_path / "a16.png", a))
    assert img.bit_depth == 16 and img.pixels.dtype == np.uint16 and img.data_range == 65535
    np.testing.assert_array_equal(img.pixels, a)


def test_rgba_equal_channels_becomes_gray(tmp_path):
    g = rng_image((6, 6), 3)
    rgba = np.dstack([g, g, g, np.full_like(g, 255)])
    img = read_raster(write_png(tmp_path / "rgba.png", rgba))
    gray = to_gray(img, "rgba.png")
    np.testing.assert_array_equal(gray, g)
    assert img.info["gray_from"] == "RGBA"


def test_rgba_unequal_channels_is_an_error(tmp_path):
    c = rng_image((6, 6, 3), 4)
    img = read_raster(write_png(tmp_path / "rgba.png", np.dstack([c, np.full((6, 6), 255, np.uint8)])))
    with pytest.raises(DataError, match=r"rgba.png: RGBA image with unequal colour channels \(expected a grayscale"):
        to_gray(img, tmp_path / "rgba.png")


def test_transparent_alpha_is_an_error(tmp_path):
    g = rng_image((4, 4), 5)
    rgba = np.dstack([g, g, g, np.full_like(g, 10)])
    with pytest.raises(DataError, match="transparent pixels"):
        read_raster(write_png(tmp_path / "t.png", rgba))


def test_tiff_and_ppm_gz(tmp_path):
    c = rng_image((7, 9, 3), 6)
    np.testing.assert_array_equal(read_raster(write_tiff(tmp_path / "a.tif", c)).pixels, c)
    np.testing.assert_array_equal(read_raster(write_ppm_gz(tmp_path / "im0001.ppm.gz", c)).pixels, c)


def test_float_tiff_with_nan_is_an_error(tmp_path):
    a = np.ones((4, 4), np.float32)
    a[1, 1] = np.nan
    with pytest.raises(DataError, match="f.tif: NaN or Inf pixel values"):
        read_raster(write_tiff(tmp_path / "f.tif", a))


def test_truncated_png_names_the_file(tmp_path):
    p = truncate(write_png(tmp_path / "broken.png", rng_image((64, 64), 7)), 0.3)
    with pytest.raises(DataError, match=r"broken.png: cannot decode image"):
        read_raster(p)


def test_corrupt_gzip_names_the_file(tmp_path):
    p = tmp_path / "im0002.ppm.gz"
    p.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataError, match=r"im0002.ppm.gz: cannot read file"):
        read_raster(p)


def test_nifti_roundtrip_shape_check_and_truncation(tmp_path):
    vol = rng_image((5, 6, 4), 8, np.int16, 1000)
    p = write_nifti(tmp_path / "v.nii.gz", vol)
    got, dtype = read_nifti_volume(p, (5, 6, 4))
    np.testing.assert_array_equal(got, vol)
    assert dtype == "int16"
    with pytest.raises(DataError, match=r"v.nii.gz: volume shape \(5, 6, 4\) \(expected shape \(240, 240, 155\)\)"):
        read_nifti_volume(p, (240, 240, 155))
    big = write_nifti(tmp_path / "big.nii.gz", rng_image((40, 40, 30), 9, np.int16, 30000))
    truncate(big, 0.5)
    with pytest.raises(DataError, match=r"big.nii.gz: cannot read"):
        read_nifti_volume(big)


def test_dicom_rescale_and_monochrome(tmp_path):
    px = rng_image((8, 8), 10, np.int16, 2000)
    p = write_dicom(tmp_path / "a.dcm", px, slope=2.0, intercept=-1024.0)
    d = read_dicom(p)
    np.testing.assert_array_equal(d.pixels, px * 2.0 - 1024.0)
    assert d.stored_dtype == "int16" and d.modality == "CT" and d.info["rescale_slope"] == 2.0
    assert is_dicom_file(p)
    other = tmp_path / "README"
    other.write_text("not dicom")
    assert not is_dicom_file(other)


def test_dicom_multiframe_and_undecodable(tmp_path):
    px = rng_image((2, 8, 8), 11, np.int16, 100)
    with pytest.raises(DataError, match=r"mf.dcm: multi-frame DICOM \(2 frames\)"):
        read_dicom(write_dicom(tmp_path / "mf.dcm", px, frames=2))
    p = write_dicom(tmp_path / "jls.dcm", px[0], transfer_syntax="1.2.840.10008.1.2.4.80",
                    pixel_bytes=b"\xff\xd8 not a real codestream")
    with pytest.raises(DataError, match=r"jls.dcm: cannot decode pixel data, transfer syntax JPEG-LS"):
        read_dicom(p)


def test_sha256_file(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_png_16bit_colour_is_not_reduced_to_8bit(tmp_path):
    import cv2

    a = rng_image((5, 4, 3), 12, np.uint16, 65535)
    p = tmp_path / "c16.png"
    cv2.imwrite(str(p), cv2.cvtColor(a, cv2.COLOR_RGB2BGR))
    img = read_raster(p)
    assert img.bit_depth == 16 and img.pixels.dtype == np.uint16
    np.testing.assert_array_equal(img.pixels, a)
    rgba = np.dstack([a, np.full((5, 4), 65535, np.uint16)])
    cv2.imwrite(str(p), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    np.testing.assert_array_equal(read_raster(p).pixels, a)

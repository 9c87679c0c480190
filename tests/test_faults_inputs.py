"""Hostile inputs: decompression bombs (a huge PNG, a small gzip that inflates to GBs) and images
too small for the scale are skipped with their name and the reason; memory stays bounded."""

from __future__ import annotations

import gzip
import resource
import struct
import zlib

import pytest
from data_fixtures import rng_image

from medsr_bench.data_prep import DataError, get_protocol
from medsr_bench.data_prep.io import read_raster
from medsr_bench.data_prep.protocols.stare import StareParams


def _huge_png(path, w=100_000, h=100_000):
    """A valid PNG header declaring w x h 8-bit gray pixels with a tiny (truncated) IDAT."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    return path


def test_huge_png_is_a_data_error_naming_the_limit(tmp_path):
    with pytest.raises(DataError) as e:
        read_raster(_huge_png(tmp_path / "bomb.png"))
    assert "bomb.png" in str(e.value) and "pixels" in str(e.value)


def test_gzip_bomb_is_refused_with_bounded_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSR_MAX_PIXELS", str(1 << 20))  # limit 9 MiB inflated
    p = tmp_path / "im0009.ppm.gz"
    with gzip.open(p, "wb") as f:  # 64 MiB of zeros in about 64 KiB
        for _ in range(64):
            f.write(b"\0" * (1 << 20))
    assert p.stat().st_size < 1 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DataError) as e:
        read_raster(p)
    grew_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert "im0009.ppm.gz" in str(e.value) and "inflates to more than" in str(e.value)
    assert grew_kib < 40 * 1024, f"peak memory grew by {grew_kib} KiB"


def test_bomb_in_a_dataset_is_skipped_and_the_run_goes_on(tmp_path):
    d = tmp_path / "STARE" / "stare-images"
    for i in range(2):
        from data_fixtures import write_ppm_gz

        write_ppm_gz(d / f"im000{i}.ppm.gz", rng_image((12, 8, 3), i))
    _huge_png(d / "im0009.ppm")
    skipped: list = []
    p = get_protocol("stare", StareParams(expected_hw=(12, 8)))
    assert len(list(p.samples(tmp_path, "all", skipped=skipped))) == 2
    assert any("im0009.ppm" in src and "pixels" in why for src, why in skipped), skipped


def test_image_too_small_for_the_scale_is_skipped(tmp_path):
    from data_fixtures import write_ppm_gz

    d = tmp_path / "STARE" / "stare-images"
    write_ppm_gz(d / "im0001.ppm.gz", rng_image((3, 3, 3), 1))
    p = get_protocol("stare", StareParams(expected_hw=None))
    skipped: list = []
    assert list(p.samples(tmp_path, "all", skipped=skipped)) == []
    assert len(skipped) == 1 and "im0001.ppm.gz" in skipped[0][0]
    assert "too small for scale x4" in str(skipped[0][1])

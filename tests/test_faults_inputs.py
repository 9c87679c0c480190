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


# ---------------------------------------------------------------- the limit as a run option
def _lab(root, big=(64, 64)):
    """A user dataset of two 16x16 PNGs and one larger one (``big.png``); its run config."""
    from data_fixtures import write_png

    png = root / "lab" / "png"
    for i in range(2):
        write_png(png / f"small{i}.png", rng_image((16, 16), i))
    write_png(png / "big.png", rng_image(big, 9))
    cfg = root / "lab.toml"
    cfg.write_text(f'models = "bicubic"\n[datasets.lab]\nimages = "{png}"\n'
                   '[datasets.lab.degradation]\nscale = 2\n')
    return cfg


def _skips(out):
    import json

    meta = json.loads((out / "run.json").read_text())
    (v,) = meta["variants"].values()
    return meta, [d if isinstance(d, str) else f"{d['source']}: {d['reason']}"
                  for d in v["skipped_files"]]


@pytest.mark.parametrize("how", ["cli", "toml", "env"])
def test_max_pixels_is_a_run_option_recorded_and_the_run_goes_on(bench_env, monkeypatch, caplog,
                                                                 how):
    from cli_helpers import invoke

    from medsr_bench.benchmark.results_io import read_per_image

    cfg = _lab(bench_env)
    out = bench_env / "run"
    args = ["run", "--config", cfg, "--workers", "1", "-q", "--out", out]
    if how == "cli":
        args += ["--max-pixels", "1000"]
    elif how == "toml":
        cfg.write_text("max_pixels = 1000\n" + cfg.read_text())
    else:
        monkeypatch.setenv("MEDSR_MAX_PIXELS", "1000")
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    meta, skips = _skips(out)
    assert meta["max_pixels"] == 1000
    assert len(skips) == 1 and "big.png" in skips[0] and "at most 1000 pixels" in skips[0], skips
    assert any("big.png" in m and "at most 1000 pixels" in m for m in caplog.messages)
    df = read_per_image(out / "per_image.csv")
    assert sorted(df.image_id) == ["small0", "small1"] and (df.status == "ok").all()


def test_max_pixels_reaches_the_readers_of_a_shard_not_the_workers_env(bench_env, monkeypatch):
    """Without a prepared cache the worker reads the files: under the run's limit (in the task),
    whatever its own environment says; a resume under another limit recomputes the shard."""
    from cli_helpers import invoke

    cfg = _lab(bench_env)
    out = bench_env / "run"
    monkeypatch.setenv("MEDSR_MAX_PIXELS", str(10**9))  # the worker's env: would read big.png
    args = ["run", "--config", cfg, "--workers", "1", "-q", "--out", out, "--no-prepared-cache"]
    assert invoke(*args, "--max-pixels", "1000").exit_code == 0
    from medsr_bench.benchmark.results_io import read_per_image

    assert sorted(read_per_image(out / "per_image.csv").image_id) == ["small0", "small1"]
    assert invoke(*args).exit_code == 0  # limit 10**9 from the env: big.png is read now
    assert sorted(read_per_image(out / "per_image.csv").image_id) == ["big", "small0", "small1"]


def test_a_bad_max_pixels_is_refused_before_any_work(bench_env):
    from cli_helpers import invoke

    import medsr_bench
    from medsr_bench.benchmark.run_config import RunError

    out = bench_env / "run"
    r = invoke("run", "--suite", "demo", "--models", "bicubic", "--limit", "1", "--out", out,
               "--max-pixels", "0")
    assert r.exit_code == 2 and "--max-pixels" in r.output  # typer's range check (min=1)
    with pytest.raises(RunError, match=r"\$MEDSR_MAX_PIXELS='many': expected an integer >= 1"):
        medsr_bench.configure(suite="demo", out=out, env={"MEDSR_MAX_PIXELS": "many"})
    with pytest.raises(RunError, match="max_pixels = 'big': expected integer"):
        medsr_bench.configure(suite="demo", out=out, max_pixels="big")
    assert not out.exists()

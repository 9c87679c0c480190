"""per_image.csv / summary.csv mechanics: exact values, summaries per variant, atomic writes."""

import math

import pandas as pd

from medsr_bench.benchmark.results_io import (
    ID_COLUMNS,
    TAIL_COLUMNS,
    format_value,
    read_per_image,
    summarise,
)

COLS = [*ID_COLUMNS, "psnr", "ssim", *TAIL_COLUMNS]


def row(img, model="bicubic", status="ok", psnr=30.0):
    return dict(suite="s", dataset="d", variant="v1", image_id=img, split="test", model=model,
                scale=4, status=status, psnr=psnr, ssim=0.9, note="")


def test_values_round_trip_exactly_including_inf(tmp_path):
    from medsr_bench.benchmark.results_io import _csv_text

    p = tmp_path / "per_image.csv"
    rows = [row("a", psnr=1 / 3), row("b", psnr=math.inf)]
    p.write_text(_csv_text(COLS, [[format_value(r.get(c)) for c in COLS] for r in rows]))
    df = read_per_image(p)
    assert df.psnr.iloc[0] == 1 / 3
    assert math.isinf(df.psnr.iloc[1])
    assert format_value(float("nan")) == ""


def test_summary_separates_variants():
    df = pd.DataFrame([row("a", psnr=30.0), row("b", psnr=32.0),
                       {**row("a", psnr=10.0), "variant": "v2"}])
    s = summarise(df, ["psnr"])
    assert list(s.variant) == ["v1", "v2"] and list(s["mean"]) == [31.0, 10.0]


def test_summary_mean_std_and_missing_status():
    df = pd.DataFrame([row("a", psnr=30.0), row("b", psnr=32.0),
                       row("a", model="m", status="missing-weights", psnr=None)])
    s = summarise(df, ["psnr"])
    ok = s[(s.model == "bicubic")].iloc[0]
    assert ok["mean"] == 31.0 and abs(ok["std"] - math.sqrt(2)) < 1e-12 and ok["n"] == 2
    one = summarise(pd.DataFrame([row("a", psnr=30.0)]), ["psnr"]).iloc[0]
    assert one["n"] == 1 and math.isnan(one["std"])  # sample std undefined for one image
    miss = s[s.model == "m"].iloc[0]
    assert miss.status == "missing-weights" and math.isnan(miss["mean"])


def test_atomic_write_honours_umask_and_leaves_no_temp(tmp_path):
    import os

    from medsr_bench.benchmark.results_io import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]

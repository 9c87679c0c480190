"""per_image.csv / summary.csv mechanics: crash repair, resume bookkeeping, summaries."""

import math

import pandas as pd

from medsr_bench.benchmark.results_io import (
    ID_COLUMNS,
    TAIL_COLUMNS,
    PerImageTable,
    format_value,
    read_per_image,
    summarise,
)

COLS = [*ID_COLUMNS, "psnr", "ssim", *TAIL_COLUMNS]


def row(img, model="bicubic", status="ok", psnr=30.0):
    return dict(suite="s", dataset="d", image_id=img, split="test", model=model, scale=4,
                status=status, psnr=psnr, ssim=0.9, seconds=0.1, note="")


def test_partial_last_line_is_dropped_and_non_ok_rows_recomputed(tmp_path):
    p = tmp_path / "per_image.csv"
    t = PerImageTable(p, COLS)
    t.append([row("a"), row("b", model="x", status="missing-weights", psnr=None)])
    with open(p, "a") as f:
        f.write("s,d,c,test,bicubic,4,ok,31.")  # killed mid-line
    t2 = PerImageTable(p, COLS)
    df = read_per_image(p)
    assert list(df.image_id) == ["a"]  # partial line and non-ok row gone
    assert t2.is_done("s", "d", "a", "bicubic")
    assert not t2.is_done("s", "d", "b", "x")


def test_values_round_trip_exactly_including_inf(tmp_path):
    p = tmp_path / "per_image.csv"
    t = PerImageTable(p, COLS)
    t.append([row("a", psnr=1 / 3), row("b", psnr=math.inf)])
    df = read_per_image(p)
    assert df.psnr.iloc[0] == 1 / 3
    assert math.isinf(df.psnr.iloc[1])
    assert format_value(float("nan")) == ""


def test_new_columns_extend_the_table(tmp_path):
    p = tmp_path / "per_image.csv"
    t = PerImageTable(p, COLS)
    t.append([row("a")])
    t.append([{**row("b"), "gray_channel_spread": 0.01}, {**row("c"), "gray_channel_spread": 0.02}])
    t.append([{**row("d"), "gray_channel_spread": 0.03}])
    header = p.read_text().splitlines()[0].split(",")
    assert header.count("gray_channel_spread") == 1
    df = read_per_image(p)
    assert list(df.gray_channel_spread.iloc[1:]) == [0.01, 0.02, 0.03] and len(df) == 4


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

"""bench sweep (issue 14): SR passes shared by metric-only variants, a planted setting recovered,
deterministic closest.csv, one-line grid errors, the report section."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from cli_helpers import bench, runner

from medsr_bench.benchmark.results_io import read_per_image
from medsr_bench.cli import app


def test_metric_only_sweep_does_one_sr_pass_per_image_and_model(bench_env, monkeypatch):
    import medsr_bench.benchmark.execute as ex

    calls = []
    orig = ex.execute

    def counting(task, ctx, samples=None):
        calls.append((task.protocol, task.shard, task.model, len(task.scorings)))
        return orig(task, ctx, samples)

    monkeypatch.setattr(ex, "execute", counting)
    out = bench_env / "sweep"
    r = bench("sweep", "--suite", "demo", "--limit", "2", "--models", "bilinear,bicubic",
              "--grid", "metric.vif_rescale=true,false", "--grid", "metric.nrmse_norm=mean,euclidean",
              "--workers", "1", "--out", out)
    assert r.exit_code == 0, r.output
    assert "SR passes: 16 images in 8 tasks (naive product: 64 images in 32 tasks)" in r.output
    assert "preparations: 4 (naive: 16)" in r.output
    assert len(calls) == 8  # 4 datasets x 2 models, each scored by the 4 metric readings
    assert {n for *_, n in calls} == {4}
    df = read_per_image(out / "per_image.csv")
    assert df.groupby("dataset").variant.nunique().eq(4).all()
    assert not df.duplicated(["suite", "dataset", "variant", "image_id", "model"]).any()
    # SR is shared, so metrics that no metric setting touches agree across the four readings
    psnr = df.groupby(["dataset", "image_id", "model"]).psnr.nunique()
    assert (psnr == 1).all()


def test_sweep_recovers_a_planted_blur_sigma_and_closest_is_deterministic(bench_env):
    ref = bench_env / "planted"
    args = ["--suite", "demo", "--limit", "2", "--models", "bicubic", "-q"]
    assert bench("run", *args, "--set", "demo-retina.blur_sigma=1.5", "--out", ref).exit_code == 0
    s = pd.read_csv(ref / "summary.csv")
    value = s[(s.dataset == "demo-retina") & (s.metric == "psnr")]["mean"].iloc[0]
    table = bench_env / "planted.csv"
    table.write_text("suite,protocol,split,model,image,metric,value,std,source\n"
                     f"demo,demo-retina,test,bicubic,,psnr,{value:.6f},,planted blur 1.5\n")
    out = bench_env / "sweep"
    r = bench("sweep", *args, "--grid", "demo-retina.blur_sigma=0.5,1.0,1.5,2.0", "--paper-table",
              table, "--out", out)
    assert r.exit_code == 0, r.output
    closest = pd.read_csv(out / "closest.csv")
    top = closest[closest["rank"] == 1].iloc[0]
    assert top.label == "demo-retina.blur_sigma=1.5" and bool(top.within)
    # the reading at the default value names it (the run's variant label omits defaults)
    labels = set(pd.read_csv(out / "sweep.csv").label)
    assert {f"demo-retina.blur_sigma={v}" for v in (0.5, 1.0, 1.5, 2.0)} <= labels, labels
    first = (out / "closest.csv").read_bytes()
    from medsr_bench.benchmark.sweep import write_outputs

    write_outputs(out, ["demo-retina.blur_sigma"], "again", table, ["demo"])
    assert (out / "closest.csv").read_bytes() == first
    md = (out / "sweep.md").read_text()
    assert "best reading overall: demo-retina.blur_sigma=1.5" in md
    html = bench_env / "r.html"
    assert bench("report", "--run", out, "--out", html).exit_code == 0
    text = html.read_text()
    assert "Which reading reproduces the paper?" in text and "distance heatmap demo" in text


@pytest.mark.parametrize("args, message", [
    (["--grid", "drive.blur_sgma=1,2"], "valid keys of drive"),
    (["--grid", "metric.channel=gray,purple"], "channel must be one of"),
    (["--grid", "metric.vif_rescale"], "expected KEY=V1,V2"),
    (["--grid", "demo-retina.blur_sigma=0,1,2", "--grid", "demo-retina.seed=1,2,3",
      "--max-variants", "4"], "the grid has 9 points, more than --max-variants 4"),
])
def test_bad_grids_fail_with_one_line(bench_env, args, message):
    r = runner.invoke(app, ["sweep", "--suite", "demo", *args, "--out", str(bench_env / "x")])
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert message in lines[0]


def test_default_grids_name_valid_settings():
    from medsr_bench.benchmark.sweep import DEFAULT_GRIDS, grid_points

    for suite, grid in DEFAULT_GRIDS.items():
        points, dropped = grid_points(grid, {})
        n = 1
        for v in grid.values():
            n *= len(v)
        assert len(points) + len(dropped) == n and points, suite


def test_sweep_resumes_and_refuses_another_grid(bench_env):
    out = bench_env / "sweep"
    args = ["sweep", "--suite", "demo", "--limit", "1", "--models", "bicubic", "-q", "--out", out]
    assert bench(*args, "--grid", "metric.vif_rescale=true,false").exit_code == 0
    meta = json.loads((out / "run.json").read_text())
    assert len(meta["configs"]) == 2
    before = (out / "per_image.csv").read_bytes()
    assert bench(*args, "--grid", "metric.vif_rescale=true,false").exit_code == 0
    assert (out / "per_image.csv").read_bytes() == before
    r = runner.invoke(app, [str(a) for a in (*args, "--grid", "metric.crop_border=0,2")])
    assert r.exit_code == 2 and "metric.crop_border=2" in r.output


def test_findings_with_an_axis_of_one_dataset_only():
    """An axis that applies to one dataset of a suite (drive.blur_sigma in aghelan) leaves NaN in
    the other dataset's rows; findings must still name the readings (was a pandas TypeError)."""
    import numpy as np
    import pandas as pd

    from medsr_bench.benchmark.sweep import findings

    rows = []
    for proto, sigma in [("drive", 0.5), ("drive", 1.0), ("chestxray14", np.nan)]:
        for metric, mean in [("psnr", 30.0 + (sigma if sigma == sigma else 0)), ("ssim", 0.9)]:
            rows.append(dict(suite="aghelan", protocol=proto, split="test", model="bicubic",
                             metric=metric, label=f"drive.blur_sigma={sigma}", mean=mean,
                             distance=abs(mean - 31.0), distance_unit="relative", in_ci=False,
                             within_std=mean == 31.0, paper=31.0, n=4, note="",
                             **{"set:drive.blur_sigma": sigma}))
    out = findings(pd.DataFrame(rows), ["drive.blur_sigma"])
    assert out[0].startswith("aghelan: best reading overall: drive.blur_sigma=1.0")
    # every cell line names its dataset (P1's two datasets share model and metric names)
    assert any(line.startswith("aghelan drive bicubic PSNR") for line in out)
    assert any(line.startswith("aghelan chestxray14 bicubic PSNR") for line in out)


def test_best_reading_overall_is_one_grid_point_over_every_dataset_of_the_suite():
    """Axes of one dataset each (drive.blur_sigma, chestxray14.blur_sigma): the best reading
    overall is the grid point whose per-dataset readings are jointly closest, over all four
    cells (was: the best single-dataset reading, its mean over that dataset's cells only, while
    the line claimed all of the suite's cells)."""
    import numpy as np
    import pandas as pd

    from medsr_bench.benchmark.sweep import best_grid_point, findings

    rows = []
    # drive is best at 0.5 (distance 0), CXR at 1.0 (distance 0): the joint point is (0.5, 1.0)
    for proto, key, sigma, dist in [("drive", "drive", 0.5, 0.0), ("drive", "drive", 1.0, 0.3),
                                    ("chestxray14", "chestxray14", 0.5, 0.2),
                                    ("chestxray14", "chestxray14", 1.0, 0.0)]:
        for metric in ("psnr", "ssim"):
            rows.append(dict(suite="aghelan", protocol=proto, split="test", model="x",
                             metric=metric, label=f"{key}.blur_sigma={sigma}", mean=1.0 + dist,
                             distance=dist, distance_unit="relative", in_ci=dist == 0.0,
                             within_std=False, paper=1.0, n=6, note="",
                             **{"set:drive.blur_sigma": sigma if key == "drive" else np.nan,
                                "set:chestxray14.blur_sigma":
                                    sigma if key == "chestxray14" else np.nan}))
    frame = pd.DataFrame(rows)
    point, dist, n_within, n_cells = best_grid_point(
        frame.assign(within=frame.in_ci), ["set:drive.blur_sigma", "set:chestxray14.blur_sigma"])
    assert point == {"set:drive.blur_sigma": "0.5", "set:chestxray14.blur_sigma": "1.0"}
    assert (dist, n_within, n_cells) == (0.0, 4, 4)
    out = findings(frame, ["drive.blur_sigma", "chestxray14.blur_sigma"])
    assert out[0] == ("aghelan: best reading overall: drive.blur_sigma=0.5, "
                      "chestxray14.blur_sigma=1.0 (mean distance 0 over 4 cells; 4 of 4 within "
                      "the paper's uncertainty).")
    # a point closer on average but outside on one cell loses to one within on every cell
    frame.loc[frame.protocol == "drive", "in_ci"] = frame["set:drive.blur_sigma"] == 1.0
    frame.loc[frame.protocol == "chestxray14", "distance"] = 0.5
    frame.loc[frame.protocol == "chestxray14", "in_ci"] = True
    point, *_ = best_grid_point(frame.assign(within=frame.in_ci),
                                ["set:drive.blur_sigma", "set:chestxray14.blur_sigma"])
    assert point["set:drive.blur_sigma"] == "1.0"


def test_closest_merges_ties_that_differ_only_in_axes_that_do_not_matter(bench_env):
    """A PSNR cell in a sweep over blur and ``metric.vif_rescale``: VIF's scaling cannot move
    PSNR, so the top list has one line per blur value naming the axis that does not matter, not
    two identical lines per blur value (issue 18)."""
    table = bench_env / "cell.csv"
    table.write_text("suite,protocol,split,model,image,metric,value,std,source\n"
                     "demo,demo-retina,test,bicubic,,psnr,30.0,,a cell\n")
    out = bench_env / "sweep"
    r = bench("sweep", "--suite", "demo", "--limit", "1", "--models", "bicubic", "-q",
              "--grid", "demo-retina.blur_sigma=0.5,1.5", "--grid", "metric.vif_rescale=true,false",
              "--paper-table", table, "--out", out)
    assert r.exit_code == 0, r.output
    closest = pd.read_csv(out / "closest.csv", keep_default_na=False)
    cell = closest[closest.metric == "psnr"]
    assert len(cell) == 2 and list(cell["rank"]) == [1, 2]
    assert set(cell.label) == {"demo-retina.blur_sigma=0.5", "demo-retina.blur_sigma=1.5"}
    assert (cell.readings == 2).all() and (cell.same_for == "metric.vif_rescale").all()
    md = (out / "sweep.md").read_text()
    assert "(2 readings: metric.vif_rescale does not matter here)" in md
    # the full table keeps every reading
    assert len(pd.read_csv(out / "sweep.csv").query("metric == 'psnr'")) == 4


def test_collapse_keeps_readings_when_every_axis_moves_the_cell():
    from medsr_bench.benchmark.sweep import _collapse_ties

    g = pd.DataFrame({"label": ["a=1, b=1", "a=1, b=2", "a=2, b=1", "a=2, b=2"],
                      "mean": [1.0, 2.0, 3.0, 4.0], "set:a": [1, 1, 2, 2], "set:b": [1, 2, 1, 2]})
    out = _collapse_ties(g, ["set:a", "set:b"])
    assert list(out.label) == list(g.label) and (out.same_for == "").all()
    g["mean"] = [1.0, 1.0, 3.0, 3.0]  # b does not matter
    out = _collapse_ties(g, ["set:a", "set:b"])
    assert list(out.label) == ["a=1", "a=2"] and list(out.readings) == [2, 2]
    g["mean"] = 5.0  # nothing matters
    out = _collapse_ties(g, ["set:a", "set:b"])
    assert list(out.label) == ["any reading"] and out.same_for.iloc[0] == "a, b"

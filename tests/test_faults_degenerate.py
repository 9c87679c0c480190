"""Degenerate pairs: an all-zero 16-bit X-ray (constant HR) must not score as perfect nor make a
mean inf; it is excluded from the means, counted with its reason in run.json and on the console."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from cli_helpers import invoke
from data_fixtures import rng_image, write_png

from medsr_bench.benchmark.execute import degenerate_reasons


def test_degenerate_reasons_unit():
    hr = np.zeros((3, 4, 4), np.float32)
    hr[1] = np.arange(16).reshape(4, 4)
    hr[2] = np.arange(16).reshape(4, 4)
    vals = {"psnr": np.array([np.inf, 30.0, np.inf]), "psnr@fov": np.array([np.nan] * 3)}
    r = degenerate_reasons(hr, vals)
    assert r[0].startswith("degenerate pair: constant HR (zero variance)")
    assert r[1] == ""
    assert "infinite psnr inf" in r[2]


def _config(tmp_path, folder):
    cfg = tmp_path / "lab.toml"
    cfg.write_text(f"""
[datasets.lab]
images = "{folder}"
[datasets.lab.intensity]
hr_bits = 16
[datasets.lab.degradation]
scale = 2
""")
    return cfg


def test_blank_xray_is_excluded_counted_and_never_inf(tmp_path, bench_env):
    folder = tmp_path / "xr"
    write_png(folder / "blank.png", np.zeros((32, 32), np.uint16))
    for i in range(2):
        write_png(folder / f"x{i}.png", rng_image((32, 32), i, np.uint16, 65535))
    out = tmp_path / "run"
    r = invoke("run", "--config", _config(tmp_path, folder), "--models", "bicubic,nearest",
               "--out", out, "-q", "--workers", "1")
    assert r.exit_code == 0, r.output
    pi = pd.read_csv(out / "per_image.csv", keep_default_na=False, na_values=[""])
    blank = pi[pi.image_id == "blank"]
    assert len(blank) and (blank.status == "degenerate").all()
    assert blank.note.str.contains("constant HR").all()
    s = pd.read_csv(out / "summary.csv")
    ok = s[s.status == "ok"]
    assert len(ok) and not any(math.isinf(v) for v in ok["mean"])
    assert set(ok.n) <= {0, 2} and (ok.n == 2).any()  # 0: a metric undefined (NaN) on these
    meta = json.loads((out / "run.json").read_text())
    (v,) = meta["variants"].values()
    assert v["n_degenerate"] == 1 and v["n_evaluated"] == 2
    assert v["degenerate"]["reasons"] == {"constant HR (zero variance)": 1}
    assert "excluded from every mean" in v["degenerate"]["policy"]
    assert "1 degenerate image(s) excluded from means (1 constant HR (zero variance))" in r.output
    html = tmp_path / "r.html"
    r = invoke("report", "--run", out, "--out", html)
    assert r.exit_code == 0, r.output
    assert "degenerate" in html.read_text()

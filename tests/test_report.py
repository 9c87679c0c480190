"""The report page and its exports, on synthetic run directories of both layouts; the page in a
real browser (headless Chromium, skipped when absent); the paper tables shipped in a wheel."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import VARIANT, make_run
from typer.testing import CliRunner

from medsr_bench.benchmark.report.browser import check_page, find_chromium
from medsr_bench.benchmark.report.export import num
from medsr_bench.benchmark.report.figures import parse_region, zoom_region
from medsr_bench.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def bench(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(params=["new", "old"])
def run_dir(request, tmp_path):
    return make_run(tmp_path / f"run-{request.param}", request.param, with_training=True)


def test_page_has_verdicts_toc_plots_and_collapsed_missing_models(run_dir, tmp_path):
    out = tmp_path / "r.html"
    r = bench("report", "--run", run_dir, "--out", out)
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert re.search(r"\d+ of 12 paper cells and 0 of 2 claims reproduced", html)
    for anchor in ('id="summary"', 'id="heatmap"', 'id="suite-rashid"', 'id="training"',
                   'id="not-computed"'):
        assert anchor in html
    # the missing model: once in the collapsed list (with its reason), cells just say so
    assert html.count("expected realesrgan_1ch_x4.pth") == 1
    assert "bench weights fetch --all" in html and "missing-weights" in html
    assert '<details id="not-computed">' in html  # collapsed
    assert "missing weights" in html
    alts = re.findall(r'<img[^>]*alt="([^"]+)"', html)
    assert any(a.startswith("per-image distributions") for a in alts)
    assert any(a.startswith("paired per-image values") for a in alts)
    assert any(a.startswith("crop-zoom figure 1") for a in alts)
    assert any(a.startswith("training curve") for a in alts)
    # Δ carries its direction
    assert re.search(r'class="num (better|worse|same)"', html)


def test_crop_zoom_figure_is_embedded_once_and_referenced(tmp_path):
    root = make_run(tmp_path / "run")
    meta = json.loads((root / "run.json").read_text())
    # a second suite on the same images (as P1 and P2 share ChestX-ray14)
    meta["suites"]["other"] = {**meta["suites"]["rashid"], "paper": "P9", "title": "Other"}
    v2 = dict(meta["variants"][VARIANT], suite="other")
    meta["variants"]["fedcba9876543210"] = v2
    (root / "run.json").write_text(json.dumps(meta))
    pi = pd.read_csv(root / "per_image.csv", dtype=str)
    pd.concat([pi, pi.assign(suite="other", variant="fedcba9876543210")]).to_csv(
        root / "per_image.csv", index=False)
    out = tmp_path / "r.html"
    assert bench("report", "--run", root, "--out", out).exit_code == 0
    html = out.read_text()
    assert html.count('alt="crop-zoom figure') == 1
    assert 'href="#fig-1"' in html and "Also used by P9 other" in html


def test_variants_are_grouped_with_their_label(tmp_path):
    root = make_run(tmp_path / "run")
    meta = json.loads((root / "run.json").read_text())
    meta["variants"]["1111111111111111"] = dict(meta["variants"][VARIANT], label="blur σ 1.5",
                                                settings={"rashid.blur_sigma": 1.5})
    (root / "run.json").write_text(json.dumps(meta))
    pi = pd.read_csv(root / "per_image.csv", dtype=str)
    pd.concat([pi, pi.assign(variant="1111111111111111")]).to_csv(root / "per_image.csv",
                                                                   index=False)
    out = tmp_path / "r.html"
    assert bench("report", "--run", root, "--out", out).exit_code == 0
    html = out.read_text()
    assert "Variant blur σ 1.5" in html and "rashid.blur_sigma = 1.5" in html
    assert "Variant default settings" in html
    assert re.search(r"\d+ of 24 paper cells and 0 of 4 claims reproduced", html)


def test_number_format_and_zoom_region():
    assert num(35.33) == "35.33" and num(0.8866) == "0.8866" and num(0.011) == "0.01100"
    assert num(12345.6) == "12346" and num(0.02, signed=True) == "+0.02000" and num(None) == ""
    assert "e" not in num(1.5e-7)
    assert parse_region("10,20,30,40") == (10, 20, 30, 40)
    with pytest.raises(ValueError, match="x,y,w,h"):
        parse_region("1,2,3")
    import numpy as np

    assert zoom_region(np.zeros((50, 60)), (50, 40, 30, 30)) == (50, 40, 10, 10)


def test_zoom_option_and_bad_values(run_dir, tmp_path):
    assert bench("report", "--run", run_dir, "--out", tmp_path / "z.html",
                 "--zoom", "8,8,16,16").exit_code == 0
    r = runner.invoke(app, ["report", "--run", str(run_dir), "--zoom", "a,b"])
    assert r.exit_code == 2 and r.output.startswith("error: --zoom")
    r = runner.invoke(app, ["report", "--run", str(run_dir), "--format", "docx"])
    assert r.exit_code == 2 and r.output.startswith("error: --format")


def test_every_export_format_parses(run_dir, tmp_path):
    paths = {}
    for fmt, ext in (("md", "md"), ("csv", "csv"), ("json", "json"), ("latex", "tex")):
        out = tmp_path / f"t.{ext}"
        r = bench("report", "--run", run_dir, "--format", fmt, "--out", out)
        assert r.exit_code == 0, r.output
        paths[fmt] = out
    # JSON round trip
    d = json.loads(paths["json"].read_text())
    assert d["headline"]["cells"] == 12 and len(d["cells"]) == 12 and len(d["claims"]) == 2
    # CSV round trip: cells + claims, same numbers as the JSON
    cells = pd.read_csv(paths["csv"], keep_default_na=False, na_values=[""])
    claims = pd.read_csv(tmp_path / "t-claims.csv", keep_default_na=False, na_values=[""])
    assert len(cells) == 12 and set(claims.id) == {"P3-ssim-vif", "P3-mae"}
    j = {(c["model"], c["metric"]): c for c in d["cells"]}
    for r in cells.itertuples():
        if pd.notna(r.mean):
            assert r.mean == pytest.approx(j[(r.model, r.metric)]["mean"], rel=1e-12)
    # Markdown: every table row has the header's column count
    md = paths["md"].read_text()
    tables = [b for b in md.split("\n\n") if b.startswith("|")]
    assert len(tables) == 2
    for t in tables:
        lines = t.strip().splitlines()
        width = lines[0].count(" | ")
        assert re.fullmatch(r"\|(---\|)+", lines[1])
        assert all(ln.replace("\\|", "").count(" | ") == width for ln in lines[2:])
    # LaTeX: balanced braces and environments
    tex = paths["latex"].read_text()
    assert tex.count("\\begin{tabular}") == tex.count("\\end{tabular}") == 2
    depth = 0
    for ch in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0 and "\\toprule" in tex


@pytest.mark.slow
def test_page_in_headless_chromium(run_dir, tmp_path):
    if find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install -y chromium): browser check skipped")
    out = tmp_path / "r.html"
    assert bench("report", "--run", run_dir, "--out", out).exit_code == 0
    results = check_page(out, tmp_path / "shots")
    assert [r["width"] for r in results] == [1400, 800]
    for r in results:
        assert r["images"] >= 5 and not r["bad_images"], r
        assert r["n_overflow"] == 0 and r["scrollWidth"] <= r["width"], r
        assert Path(r["screenshot"]).stat().st_size > 1000


@pytest.mark.slow
def test_wheel_ships_the_paper_tables(tmp_path):
    """A wheel (non-editable install) renders a report holding paper values."""
    wheels = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(wheels), str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(wheels.glob("medsr_bench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "medsr_bench/benchmark/paper_tables/reported.csv" in names
    assert "medsr_bench/benchmark/paper_tables/claims.csv" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    # the dependencies (torch, pandas, ...) come from this interpreter's site-packages, added
    # after the new venv's own one (a .pth line adds the folder, not its editable-install hooks)
    import site

    own = subprocess.run([str(py), "-c", "import site; print(site.getsitepackages()[0])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    Path(own, "_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    run = make_run(tmp_path / "run")
    out = tmp_path / "wheel.html"
    code = ("import sys; from pathlib import Path; import medsr_bench.benchmark.report as R; "
            "assert 'site-packages' in R.__file__, R.__file__; "
            "R.render_report(Path(sys.argv[1]), Path(sys.argv[2]))")
    r = subprocess.run([str(py), "-c", code, str(run), str(out)], capture_output=True, text=True,
                       cwd=tmp_path, env={"PATH": str(venv / "bin"), "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    html = out.read_text()
    assert "Paper tables not found" not in html
    assert "0.5500" in html and "P3 Table 2" in html  # P3 bilinear VIF 0.55 from the package


@pytest.mark.slow
def test_browser_check_catches_a_stray_column_and_a_broken_word(tmp_path):
    if find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install -y chromium): browser check skipped")
    good = ("<table><tr><th>model</th><th>metric</th><th>verdict</th></tr>"
            "<tr><td>bicubic</td><td colspan=2>missing weights</td></tr></table>")
    bad = ("<table><tr><th>model</th><th>metric</th><th>verdict</th></tr>"
           "<tr><td>bicubic</td><td colspan=2>missing weights</td><td>stray</td></tr></table>"
           "<table style='width:3rem'><tr><td style='overflow-wrap:anywhere'>"
           "chestxray14chestxray14</td></tr></table>")
    for name, body in (("good", good), ("bad", bad)):
        (tmp_path / f"{name}.html").write_text(f"<html><body>{body}</body></html>")
    (ok,) = check_page(tmp_path / "good.html", tmp_path / "shots", widths=(800,))
    assert ok["ok"] and ok["n_column_mismatch"] == 0 and ok["n_broken_words"] == 0, ok
    (r,) = check_page(tmp_path / "bad.html", tmp_path / "shots", widths=(800,))
    assert not r["ok"] and r["n_column_mismatch"] == 1 and "4 cells, header 3" in r["column_mismatch"][0]
    assert r["broken_words"] == ["chestxray14chestxray14"], r


def test_split_sections_render_once_and_a_repeated_dataset_links_back(tmp_path):
    """A protocol scored on two splits (P4: val Table 1, test Table 2) gets one section per split
    under its own heading, heatmap columns name the split; a second suite scoring the same images
    with the same numbers (P2 after P1) links to the first table instead of repeating it."""
    from report_fixtures import VARIANT

    root = make_run(tmp_path / "run")
    meta = json.loads((root / "run.json").read_text())
    pi = pd.read_csv(root / "per_image.csv", dtype={"variant": str})
    val = pi.assign(split="val", variant="v" * 16, image_id=pi.image_id + "_v")
    twin = pi.assign(suite="twin", variant="t" * 16)
    pd.concat([pi, val, twin]).to_csv(root / "per_image.csv", index=False)
    ds = meta["suites"]["rashid"]["datasets"][0]
    meta["suites"]["rashid"]["datasets"] = [{**ds, "split": "val", "paper_table": "Table V"},
                                            {**ds, "split": "test", "paper_table": "Table T"}]
    meta["suites"]["twin"] = {**meta["suites"]["rashid"], "paper": "P9", "title": "Twin",
                              "datasets": [ds]}
    base = meta["variants"][VARIANT]
    meta["variants"]["v" * 16] = {**base, "split": "val"}
    meta["variants"]["t" * 16] = {**base, "suite": "twin"}
    (root / "run.json").write_text(json.dumps(meta))
    out = tmp_path / "r.html"
    assert bench("report", "--run", root, "--out", out).exit_code == 0
    html = out.read_text()
    assert html.count("brats2018 (val split) — Table V") == 1
    assert html.count("brats2018 (test split) — Table T") == 1
    assert "P3 brats2018 val" in html and "P3 brats2018 test" in html
    assert html.count("<summary>Every computed model on brats2018") == 2  # val, test; not twin
    assert "same images as P3 rashid, same numbers" in html

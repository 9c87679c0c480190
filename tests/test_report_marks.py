"""Marks a reader must see wherever a row appears (issue 18): an under-trained ``bench train``
checkpoint is "UNDER-TRAINED (k of N iterations)" in the page, every export and the console
table; a stand-in dataset is named in every export and on the console; a reason that names its
model is not followed by the model again."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from report_fixtures import VARIANT, make_run
from typer.testing import CliRunner

from medsr_bench.benchmark.report.rundata import model_tags
from medsr_bench.benchmark.report.verdicts import join_reasons
from medsr_bench.cli import app
from medsr_bench.cli.run_summary import headline_table
from medsr_bench.models.train.trained import data_text, label, row_tag

TAG = "UNDER-TRAINED (3 of 300,000 iterations)"
RECORD = {"row": "bicubic", "iterations_done": 3, "iterations_recipe": 300_000,
          "under_trained": True, "smoke": False, "dataset": "cptac-gbm",
          "data_id": "ct-head-standin", "stand_in_for": "CPTAC-GBM", "split": "train",
          "recipe": "beallor-srresnet"}


def _marked_run(tmp_path):
    root = make_run(tmp_path / "run")
    meta = json.loads((root / "run.json").read_text())
    meta["models"]["bicubic"]["info"] = {"weights": {"source": "project-trained", "sha256": "ab" * 32,
                                                     "trained": RECORD}}
    meta["variants"][VARIANT].update(stand_in_for="BraTS 2018",
                                     note="synthetic slices standing in; this is NOT BraTS")
    (root / "run.json").write_text(json.dumps(meta))
    return root


def test_record_tags():
    assert row_tag(RECORD) == TAG
    assert row_tag({**RECORD, "under_trained": False}) == "" and row_tag(None) == ""
    assert row_tag({**RECORD, "smoke": True}).startswith("SMOKE")
    assert data_text(RECORD) == ("ct-head-standin train (stands in for CPTAC-GBM; not CPTAC-GBM "
                                 "data)")
    assert label(RECORD).startswith("UNDER-TRAINED; 3 of 300,000 iterations; trained on "
                                    "ct-head-standin")
    # any shape of run.json models: no crash, no mark
    assert model_tags({"models": {"a": None, "b": {"info": "x"}, "c": {"info": {"weights": 1}}}}) == {}
    assert model_tags({"models": []}) == {}


def test_under_trained_and_stand_in_in_every_output(tmp_path):
    root = _marked_run(tmp_path)
    runner = CliRunner()
    outs = {}
    for fmt, ext in (("html", "html"), ("md", "md"), ("csv", "csv"), ("json", "json"),
                     ("latex", "tex")):
        out = tmp_path / f"r.{ext}"
        r = runner.invoke(app, ["report", "--run", str(root), "--format", fmt, "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert f"bicubic: {TAG}" in r.output and "stand-in: brats2018: scored on brats2018, " \
            "which stands in for BraTS 2018" in r.output
        outs[fmt] = out
    html = outs["html"].read_text()
    # the cells table, the computed table, the heatmap, the per-image table, the models table
    assert html.count(f'bicubic <span class="tag">{TAG}</span>') >= 5
    assert f"bicubic: {TAG}" in html  # claim comparisons
    md = outs["md"].read_text()
    assert f"bicubic [{TAG}]" in md and "Stand-in: brats2018" in md
    assert "bilinear [" not in md
    cells = pd.read_csv(outs["csv"], keep_default_na=False)
    assert set(cells[cells.model == "bicubic"].model_note) == {TAG}
    assert set(cells[cells.model == "bilinear"].model_note) == {""}
    claims = pd.read_csv(tmp_path / "r-claims.csv", keep_default_na=False)
    assert (claims.model_notes == f"bicubic: {TAG}").all()
    d = json.loads(outs["json"].read_text())
    assert {c["model_note"] for c in d["cells"] if c["model"] == "bicubic"} == {TAG}
    assert d["run"]["stand_ins"][0].startswith("brats2018: scored on brats2018")
    assert f"bicubic [{TAG}]" in outs["latex"].read_text().replace("\\", "")
    lines = headline_table(root)
    assert any(ln.startswith(f"bicubic [{TAG}]") for ln in lines)
    assert any(ln.startswith("bilinear ") for ln in lines)


@pytest.mark.parametrize("items, text", [
    ([("srgan", "srgan not in this run (add --models srgan)")],
     "srgan not in this run (add --models srgan)"),
    ([("esrgan", "missing weights"), ("srgan", "missing weights")], "missing weights: esrgan, srgan"),
    ([("a", "a not in this run (add --models a)"), ("b", "b not in this run (add --models b)")],
     "a not in this run (add --models a); b not in this run (add --models b)"),
    # a name inside a longer name is not "named" (srresnet-brats2018 is not srresnet)
    ([("srresnet", "srresnet-brats2018 failed")], "srresnet-brats2018 failed: srresnet"),
])
def test_reasons_do_not_repeat_the_model(items, text):
    assert join_reasons(items) == text


def test_a_claim_untestable_for_one_reason_in_many_readings_is_shown_once():
    """A sweep's 16 readings of P1 without the fine-tuned model gave 16 identical "not testable
    here" rows per claim; the summary shows the claim once, saying in how many readings, and
    keeps tested rows and rows of another reason."""
    from medsr_bench.benchmark.report import merge_untestable

    def row(label, verdict="not testable here", reason="realesrgan-finetuned-retina not in this run"):
        return {"id": "P1-drive-ssim", "protocol": "drive", "split": "all", "label": label,
                "verdict": verdict, "reason": reason}

    rows = [row(f"drive.blur_sigma={s}") for s in (0.6, 0.7, 0.8)]
    rows += [row("drive.blur_sigma=0.9", reason="n too small (2 < 6)"),
             row("drive.blur_sigma=1.0", verdict="reproduced", reason="")]
    out = merge_untestable(rows)
    assert [r["label"] for r in out] == ["all 3 readings", "drive.blur_sigma=0.9",
                                         "drive.blur_sigma=1.0"]
    assert merge_untestable(rows[:1]) == rows[:1]


def test_text_exports_show_an_untestable_comparison_once_with_its_readings():
    """Markdown / LaTeX claims of a sweep: a comparison not testable for one reason in every
    reading is one row labelled "all N readings" (the table had no label column, so its 16
    copies were indistinguishable); tested rows keep their reading's label."""
    import pandas as pd

    from medsr_bench.benchmark.report.export import CLAIM_COLUMNS, _merge_untestable

    base = dict.fromkeys(CLAIM_COLUMNS, "")
    base.update(id="P1-drive-ssim", protocol="drive", split="all", better="ft", worse="x4",
                metric="ssim", claim_verdict="not testable here", verdict="not testable here",
                reason="ft not in this run")
    rows = [{**base, "label": f"sigma={s}"} for s in (0.6, 0.7, 0.8)]
    rows.append({**base, "label": "sigma=1.0", "claim_verdict": "reproduced", "verdict": "reproduced",
                 "reason": ""})
    out = _merge_untestable(pd.DataFrame(rows, columns=CLAIM_COLUMNS))
    assert list(out.label) == ["all 3 readings", "sigma=1.0"]

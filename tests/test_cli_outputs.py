"""What the console commands show: ``bench status`` (stand-ins named), ``bench models`` /
``bench weights list`` (header, weights state), ``bench settings`` (full text, per-suite
defaults) and ``bench run --save-sr``."""

from __future__ import annotations

import json

from cli_helpers import invoke as bench

from medsr_bench.benchmark.rundir import write_plan
from medsr_bench.benchmark.tasks import Plan

STANDIN = {"suite": "beallor", "protocol": "cptac-gbm", "split": "val", "dataset": "ct-head-standin",
           "stand_in_for": "CPTAC-GBM", "note": "this is NOT CPTAC-GBM", "params": {"hw": [32, 32]}}
TASK = {"key": "k1", "protocol": "cptac-gbm", "split": "val", "shard": [0, 1], "model": "nearest",
        "n_images": 1, "n_rows": 1, "plan_status": ""}


def test_status_names_the_stand_in_from_the_plan_and_from_run_json(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_plan(run, Plan(variants={"v1": STANDIN}))
    plan = json.loads((run / "plan.json").read_text())
    assert plan["variants"]["v1"]["dataset"] == "ct-head-standin" and "params" not in plan["variants"]["v1"]
    plan["tasks"] = [TASK]  # a task not yet run: pending, before any run.json exists
    (run / "plan.json").write_text(json.dumps(plan))
    r = bench("status", run)
    assert r.exit_code == 0, r.output
    assert "cptac-gbm[val] on ct-head-standin (stand-in)" in r.output
    assert "stand-in: cptac-gbm: scored on ct-head-standin, which stands in for CPTAC-GBM" in r.output
    # a plan.json written before it recorded variants: run.json's entries name it
    (run / "plan.json").write_text(json.dumps({"tasks": [{**TASK, "plan_status": ""}]}))
    (run / "run.json").write_text(json.dumps({"variants": {"v1": STANDIN}}))
    assert "cptac-gbm[val] on ct-head-standin (stand-in)" in bench("status", run).output
    # not a stand-in: the protocol alone
    (run / "run.json").write_text(json.dumps({"variants": {"v1": {**STANDIN, "stand_in_for": None,
                                                                  "dataset": "cptac-gbm"}}}))
    r = bench("status", run)
    assert "cptac-gbm[val]  " in r.output and "stand-in" not in r.output

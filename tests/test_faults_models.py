"""A requested model that errors (weights with the wrong sha256, a load error) is named on the
console with its reason and fails the run (exit 1) unless ``--keep-going``; a model whose weights
are simply absent (``missing-weights``) is a documented state and never fails a run. The Python
API (``medsr_bench.evaluate``) follows the same rule through ``RunResult.exit_code``."""

from __future__ import annotations

from cli_helpers import invoke

import medsr_bench
from medsr_bench.benchmark.results_io import read_per_image
from medsr_bench.models import get_spec

MODEL = "realesrgan-animevideo-xsx4"  # a registered model with a known sha256 (small SRVGG)


def _args(out, *extra):
    return ["run", "--suite", "demo", "--limit", "1", "--models", f"bicubic,{MODEL}",
            "--workers", "1", "-q", "--out", out, *extra]


def test_a_model_with_wrong_weights_fails_the_run_unless_keep_going(bench_env):
    weights = bench_env / "weights"
    (weights / get_spec(MODEL).pretrained.file).write_bytes(b"not a checkpoint" * 300)
    r = invoke(*_args(bench_env / "strict"))
    line = f"model {MODEL} failed: "
    assert r.exit_code == 1, r.output
    said = [x for x in r.output.splitlines() if x.startswith(line)]
    assert len(said) == 1 and "sha256 mismatch" in said[0], r.output
    assert "error: run incomplete: model(s) realesrgan-animevideo-xsx4 failed" in r.output
    df = read_per_image(bench_env / "strict" / "per_image.csv")
    assert set(df[df.model == MODEL].status) == {"error"}
    assert set(df[df.model == "bicubic"].status) == {"ok"}

    r = invoke(*_args(bench_env / "going", "--keep-going"))
    assert r.exit_code == 0, r.output
    said = [x for x in r.output.splitlines() if x.startswith(line)]
    assert len(said) == 1 and "sha256 mismatch" in said[0], r.output
    assert "note: --keep-going: exit 0 although 1 requested model(s) failed" in r.output

    res = medsr_bench.evaluate(suite="demo", limit=1, models=["bicubic", MODEL], workers=1,
                               out=bench_env / "api", quiet=True)
    assert res.exit_code == 1 and MODEL in res.model_errors
    assert "sha256 mismatch" in res.model_errors[MODEL] and MODEL in res.incomplete_reason
    res = medsr_bench.evaluate(suite="demo", limit=1, models=["bicubic", MODEL], workers=1,
                               out=bench_env / "api", quiet=True, keep_going=True)
    assert res.exit_code == 0 and MODEL in res.model_errors and res.meta["keep_going"] is True


def test_absent_weights_are_reported_not_a_failure(bench_env):
    r = invoke(*_args(bench_env / "run"))  # bench_env's weights dir is empty
    assert r.exit_code == 0, r.output
    assert f"missing weights (1): {MODEL}" in r.output and "failed" not in r.output
    df = read_per_image(bench_env / "run" / "per_image.csv")
    assert set(df[df.model == MODEL].status) == {"missing-weights"}

"""Damaged run dirs: every reader (report, check, status, a resumed run) says in one line what is
wrong instead of rendering, passing or counting as done."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_helpers import invoke

from medsr_bench.benchmark.rundir import table_digests


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("rd")
    mp = pytest.MonkeyPatch()
    (base / "w").mkdir()
    mp.setenv("BENCH_WEIGHTS", str(base / "w"))
    mp.setenv("BENCH_PREPARED", str(base / "prep"))
    mp.delenv("BENCH_DATA_ROOT", raising=False)
    out = base / "run"
    r = invoke("run", "--suite", "demo", "--limit", "1", "--models", "nearest,bicubic", "--out",
               out, "-q", "--workers", "1")
    assert r.exit_code == 0, r.output
    yield out
    mp.undo()


@pytest.fixture
def run(demo_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(demo_run, dst)
    return dst


def _one_error(r, *needles):
    lines = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert r.exit_code != 0 and len(lines) == 1, r.output
    for n in needles:
        assert n in lines[0], r.output


def test_report_of_a_killed_merge_and_check_refuse(run, tmp_path):
    pi = run / "per_image.csv"
    pi.write_text(pi.read_text().replace(",ok,", ",ok ,", 1))  # new per_image, old summary
    _one_error(invoke("report", "--run", run, "--out", tmp_path / "r.html"),
               "per_image.csv", "do not match run.json")
    _one_error(invoke("check", "--baseline", run / "summary.csv", "--run", run),
               "do not match run.json")


def test_missing_per_image_is_named(run, tmp_path):
    (run / "per_image.csv").unlink()
    _one_error(invoke("report", "--run", run, "--out", tmp_path / "r.html"), "per_image.csv",
               "missing")


@pytest.mark.parametrize("content,needle", [("[1, 2]", "a JSON list"),
                                            ('{"foo": 1}', "not a run.json of `bench run`")])
def test_foreign_run_json(run, tmp_path, content, needle):
    (run / "run.json").write_text(content)
    _one_error(invoke("report", "--run", run, "--out", tmp_path / "r.html"), needle)
    if "list" in needle:  # bench run on it: one line, nothing overwritten
        r = invoke("run", "--suite", "demo", "--limit", "1", "--models", "nearest,bicubic",
                   "--out", run, "-q")
        _one_error(r, "run.json", "a JSON list")
        assert (run / "run.json").read_text() == content


def test_part_without_rows_is_not_done(run):
    part = next((run / "parts").glob("*.json"))
    d = json.loads(part.read_text())
    d["rows"] = []
    part.write_text(json.dumps(d))
    r = invoke("status", run)
    assert r.exit_code == 0 and "1 pending" in r.output, r.output


def test_incomplete_run_is_stated_by_the_report(run, tmp_path):
    meta = json.loads((run / "run.json").read_text())
    meta["status"], meta["tasks"]["pending"] = "interrupted", 3
    (run / "run.json").write_text(json.dumps(meta))
    out = tmp_path / "r.html"
    r = invoke("report", "--run", run, "--out", out)
    assert r.exit_code == 0, r.output
    assert "warning: incomplete run" in r.output
    assert "incomplete run" in out.read_text()


def test_check_empty_run_or_baseline_and_update_to_a_directory(run, tmp_path):
    header = (run / "summary.csv").read_text().splitlines()[0] + "\n"
    empty = tmp_path / "empty.csv"
    empty.write_text(header)
    _one_error(invoke("check", "--baseline", empty, "--run", run), "baseline", "no rows")
    _one_error(invoke("check", "--baseline", tmp_path, "--run", run, "--update"),
               "is a directory")
    (run / "summary.csv").write_text(header)
    meta = json.loads((run / "run.json").read_text())
    meta["tables"] = table_digests(run)  # as if merged so
    (run / "run.json").write_text(json.dumps(meta))
    _one_error(invoke("check", "--baseline", empty, "--run", run), "no rows")


def test_old_run_without_table_digests_says_what_is_missing_and_how_to_fix(run, tmp_path):
    """A run dir from before table digests were recorded: the report renders with a one-line
    warning, the CI gate refuses (it cannot tell a stale summary.csv from a merged one); both
    name the file and the command that merges again; re-running it records the digests."""
    meta = json.loads((run / "run.json").read_text())
    meta.pop("tables")
    # the command as a shell records it (under CliRunner it is pytest's argv); the dir has moved
    meta["command"] = ["bench", "run", "--suite", "demo", "--limit", "1", "--models",
                       "nearest,bicubic", "--out", "/moved/away", "-q", "--workers", "1"]
    (run / "run.json").write_text(json.dumps(meta))
    out = tmp_path / "r.md"
    r = invoke("report", "--run", run, "--format", "md", "--out", out)
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.output.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "records no digests of per_image.csv and summary.csv" in warn[0]
    assert f"--out {run}" in warn[0] and "merge the tables again" in warn[0]
    assert "records no digests" in out.read_text()
    _one_error(invoke("check", "--baseline", run / "summary.csv", "--run", run),
               "run.json", "records no digests", "bench run --suite demo")
    cmd = meta["command"][1:]
    cmd[cmd.index("--out") + 1] = str(run)
    assert invoke(*cmd).exit_code == 0
    assert "tables" in json.loads((run / "run.json").read_text())
    r = invoke("check", "--baseline", run / "summary.csv", "--run", run)
    assert r.exit_code == 0 and r.output.startswith("ok:"), r.output


def test_out_naming_a_file(tmp_path, bench_env):
    f = tmp_path / "afile"
    f.write_text("x")
    _one_error(invoke("run", "--suite", "demo", "--limit", "1", "--models", "nearest", "--out", f,
                      "-q"), "is a file")

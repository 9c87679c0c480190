"""Config values of the wrong type are refused before any work starts: one ``error:`` line, exit 2."""

from __future__ import annotations

import pytest
from cli_helpers import invoke


@pytest.mark.parametrize("body,needle", [
    ('[metric]\ncrop_border = 1.5\n', "metric.crop_border = 1.5: expected int, got float"),
    ('[metric]\ncrop_border = "4"\n', "metric.crop_border = '4': expected int, got str"),
    ('[metric]\nchannel = 3\n', "metric.channel = 3: expected str, got int"),
    ('limit = "2"\n', "limit = '2': expected integer >= 1"),
    ('limit = 2.0\n', "limit = 2.0: expected integer >= 1"),
    ('models = 3\n', "models = 3: expected text or list of text"),
    ('strict = "yes"\n', "strict = 'yes': expected true/false"),
])
def test_wrong_type_in_config_is_one_line(tmp_path, bench_env, body, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text('suite = "demo"\n' + body)
    r = invoke("run", "--config", cfg, "--out", tmp_path / "run", "-q")
    lines = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert r.exit_code == 2 and len(lines) == 1 and needle in lines[0], r.output
    assert not (tmp_path / "run").exists()  # nothing started


def test_non_utf8_config_is_one_line(tmp_path, bench_env):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b'suite = "d\xe9mo"\n')
    r = invoke("run", "--config", cfg, "-q")
    assert r.exit_code == 2 and "not UTF-8 text" in r.output and "Traceback" not in r.output


def test_right_types_still_pass(tmp_path, bench_env):
    cfg = tmp_path / "c.toml"
    cfg.write_text('suite = "demo"\nlimit = 1\nmodels = ["nearest"]\n[metric]\ncrop_border = 2\n')
    r = invoke("run", "--config", cfg, "--print-config")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("content,needle", [(None, "no such file"), ("a,b\n1,2\n", "missing column"),
                                            (b"\xff\xfe\x00bad", "")])
def test_bad_paper_table_for_sweep_is_refused_before_work(tmp_path, bench_env, content, needle):
    pt = tmp_path / "paper.csv"
    if isinstance(content, bytes):
        pt.write_bytes(content)
    elif content is not None:
        pt.write_text(content)
    out = tmp_path / "sw"
    r = invoke("sweep", "--suite", "demo", "--limit", "1", "--models", "nearest", "--grid",
               "metric.crop_border=0,2", "--paper-table", pt, "--out", out, "-q")
    lines = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert r.exit_code == 2 and len(lines) == 1 and "--paper-table" in lines[0], r.output
    assert needle in lines[0]
    assert not out.exists()


# ---------------------------------------------------------------- --set / --grid values: one checker
SET_CASES = [  # (--set, the one line must contain)
    ("drive.blur_sigma=abc", "drive.blur_sigma='abc': expected a number (float; default 1.0)"),
    ("drive.blur_ksize=7.5", "drive.blur_ksize='7.5': expected an integer (int; default 7)"),
    ("drive.blur_ksize=true", "drive.blur_ksize='true': expected an integer"),
    ("metric.crop_border=-1", "metric.crop_border=-1: crop_border must be an integer >= 0"),
    ("drive.hr_hw=512", "drive.hr_hw='512': expected 2 comma-separated integers"),
    ("model.tile=x", "model.tile='x': expected an integer (int; default 0)"),
    ("metric.channel=bogus", "metric.channel='bogus': channel must be one of"),
    ("metric.quantize=maybe", "metric.quantize='maybe': expected true or false (bool"),
]


@pytest.mark.parametrize("assignment,needle", SET_CASES)
def test_set_values_are_type_checked_before_any_work(tmp_path, bench_env, assignment, needle):
    out = tmp_path / "run"
    r = invoke("run", "--suite", "demo", "--models", "bicubic", "--limit", "1", "--set",
               assignment, "--out", out, "-q")
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert needle in lines[0], lines[0]
    assert not out.exists()  # nothing written


def test_the_same_checker_serves_toml_set_and_sweep_grids(tmp_path, bench_env):
    from medsr_bench.benchmark import settings as st

    # the one checker: text is parsed, a typed (TOML) value is not converted
    assert st.parse_setting("drive.blur_ksize", "9") == 9
    assert st.parse_setting("drive.blur_ksize", 9, typed=True) == 9
    with pytest.raises(st.SettingError, match=r"drive.blur_ksize = '9': expected int, got str"):
        st.parse_setting("drive.blur_ksize", "9", typed=True)
    cfg = tmp_path / "c.toml"
    cfg.write_text('suite = "demo"\n[drive]\nblur_ksize = 7.5\n')
    r = invoke("run", "--config", cfg, "--out", tmp_path / "a", "-q")
    assert r.exit_code == 2 and f"--config {cfg}: drive.blur_ksize = 7.5: expected int, got " \
        "float" in r.output, r.output
    out = tmp_path / "sw"
    sweep = ["sweep", "--suite", "demo", "--limit", "1", "--models", "nearest", "--out", out, "-q"]
    r = invoke(*sweep, "--grid", "drive.blur_sigma=1.0,abc")
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert "drive.blur_sigma='abc': expected a number (float; default 1.0)" in lines[0]
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\n"drive.blur_ksize" = [7, "9"]\n')
    r = invoke(*sweep, "--grid-file", grid)
    assert r.exit_code == 2 and f"--grid-file {grid}: drive.blur_ksize = '9': expected int, got " \
        "str" in r.output, r.output
    assert not out.exists() and not (tmp_path / "a").exists()

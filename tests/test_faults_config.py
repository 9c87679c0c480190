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

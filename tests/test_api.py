"""The Python API (issue 24): ``medsr_bench.evaluate`` / ``sweep`` / ``check`` give what the CLI
gives; ``RunConfig.from_sources`` owns the precedence; the run options are declared once; model
options are one typed dataclass."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import bench

import medsr_bench
from medsr_bench.benchmark import settings as st
from medsr_bench.benchmark.run_config import RunConfig, RunError

TINY = dict(suite="demo", limit=1, models=["bilinear", "bicubic"])


def tables(out: Path) -> tuple[bytes, bytes]:
    return (out / "per_image.csv").read_bytes(), (out / "summary.csv").read_bytes()


# ---------------------------------------------------------------- Python == CLI
def test_evaluate_from_python_and_bench_run_give_byte_identical_tables(bench_env):
    py = bench_env / "py"
    res = medsr_bench.evaluate(**TINY, settings={"metric": {"crop_border": 2}}, out=py, quiet=True)
    assert res.exit_code == 0 and res.status == "complete" and res.out == py
    assert res.computed > 0 and res.reused == 0 and res.evaluated > 0
    cli = bench_env / "cli"
    r = bench("run", "--suite", "demo", "--limit", "1", "--models", "bilinear,bicubic",
              "--crop-border", "2", "--out", cli, "-q")
    assert r.exit_code == 0, r.output
    assert tables(py) == tables(cli)
    summary = res.summary()
    assert set(summary.model) == {"bilinear", "bicubic"} and (summary.status == "ok").all()
    assert len(res.per_image()) == len(summary[summary.metric == "psnr"]) * 1  # limit 1
    again = medsr_bench.evaluate(**TINY, settings={"metric.crop_border": 2}, out=py, quiet=True)
    assert again.computed == 0 and again.reused == res.computed and tables(py) == tables(cli)


def test_sweep_and_check_from_python(bench_env):
    out = bench_env / "sweep"
    said = []
    res = medsr_bench.sweep(grid={"metric.crop_border": [0, 2]}, suite="demo", limit=1,
                            models="nearest", out=out, quiet=True, on_estimate=said.append)
    assert res.exit_code == 0 and res.axes == ["metric.crop_border"]
    assert said == [res.estimate] and "2 grid points" in res.estimate
    assert all(p.is_file() for p in res.outputs) and res.findings
    ok = medsr_bench.check(res.summary_csv, out, atol=0.0)
    assert ok.ok and ok.n_compared > 0
    with pytest.raises(medsr_bench.CheckError, match="no summary.csv"):
        medsr_bench.check(res.summary_csv, bench_env / "nowhere")
    with pytest.raises(medsr_bench.SweepError, match="valid keys of drive"):
        medsr_bench.sweep(grid=["drive.blur_sgma=1,2"], suite="demo", out=bench_env / "x")


def test_bad_options_raise_one_line_run_errors(bench_env):
    for kwargs, needle in ((dict(suite="nope"), "unknown suite nope"),
                           (dict(models="bicubic,warp9"), "unknown model warp9"),
                           (dict(limit=0), "limit 0: expected an integer >= 1"),
                           (dict(limt=2), "unknown run option 'limt' (did you mean"),
                           (dict(batch_size="4"), "batch_size = '4': expected integer"),
                           (dict(settings={"model.gray": "green"}), "gray must be one of")):
        with pytest.raises(RunError) as e:
            medsr_bench.configure(**{"suite": "demo", **kwargs})
        assert needle in str(e.value) and "\n" not in str(e.value), (kwargs, e.value)


def test_import_medsr_bench_does_not_load_the_benchmark():
    code = ("import sys, medsr_bench; assert 'medsr_bench.benchmark' not in sys.modules; "
            "f = medsr_bench.evaluate; import medsr_bench.benchmark.api as a; "
            "assert f is a.evaluate and 'evaluate' in dir(medsr_bench)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=900)


# ---------------------------------------------------------------- precedence
def test_from_sources_precedence_cli_then_env_then_config_then_default(bench_env):
    dirs = {n: bench_env / n for n in ("cli", "env", "toml")}
    for d in dirs.values():
        d.mkdir()
    cfg = bench_env / "run.toml"
    cfg.write_text(f'suite = "demo"\nmodels = ["nearest"]\nlimit = 3\nbatch_size = 2\n'
                   f'data_root = "{dirs["toml"]}"\nweights_dir = "{dirs["toml"]}"\n'
                   f'prepared_dir = "{dirs["toml"]}"\n[metric]\ncrop_border = 1\n')
    env = {"BENCH_DATA_ROOT": str(dirs["env"]), "BENCH_WEIGHTS": str(dirs["env"])}
    c = RunConfig.from_sources(cli={"limit": 2, "data_root": dirs["cli"],
                                    "set": ["metric.crop_border=3"]}, toml=cfg, env=env)
    assert c.limit == 2 and c.data_root == dirs["cli"]  # CLI over everything
    assert c.weights_dir == dirs["env"]  # environment over the config file
    assert c.prepared_dir == dirs["toml"] and c.batch_size == 2  # config file over defaults
    assert c.settings == {"metric.crop_border": 3}  # --set over the config's table
    assert c.suites == ["demo"] and c.models == ["nearest"]
    assert c.shard_size == st.RUN_OPTION_BY_NAME["shard_size"].default  # the default
    assert c.out == Path("results/runs/demo") and c.executor == "local"
    d = RunConfig.from_sources(cli={}, toml=cfg, env={})
    assert d.limit == 3 and d.data_root == dirs["toml"] and d.settings == {"metric.crop_border": 1}
    e = RunConfig.from_sources(cli={"no_prepared_cache": True, "quiet": True}, env={})
    assert e.prepared_dir is None and e.show_progress is False and e.suites == ["demo"]


def test_print_config_reads_back_to_the_same_configuration(bench_env):
    c = medsr_bench.configure(suite="demo", models="bicubic", limit=1, out=bench_env / "o",
                              settings={"demo-brain.normalisation": "volume"}, workers=2)
    text = c.to_toml()
    assert "workers = 2" in text and 'suite = "demo"' in text
    f = bench_env / "printed.toml"
    f.write_text(text)
    back = RunConfig.from_sources(toml=f, env={})
    assert back.identity() == c.identity() and back.workers == 2 and back.out == c.out


# ---------------------------------------------------------------- one declaration
def test_run_options_table_agrees_with_the_cli_runconfig_and_toml():
    from typer.main import get_command

    from medsr_bench.cli import app

    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    for o in st.RUN_OPTIONS:
        assert o.field == "" or o.field in fields, o.name
        if o.field == o.name and o.default is not None:
            assert fields[o.name].default == o.default, o.name
    assert st.RUN_KEYS == tuple(o.name for o in st.RUN_OPTIONS if o.toml)
    assert set(st.RUN_KEY_TYPES) == set(st.RUN_KEYS)
    assert set(RunConfig(suites=["demo"], models=["nearest"]).run_options()) == set(st.RUN_KEYS)
    commands = get_command(app).commands
    for name in ("run", "sweep"):
        params = {p.name: p for p in commands[name].params}
        for o in st.RUN_OPTIONS:
            p = params[o.name]
            assert p.help == o.help and p.envvar == o.env, (name, o.name)
            assert set(p.opts) | set(p.secondary_opts) == {f for fl in o.flags
                                                           for f in fl.split("/")}, o.name


# ---------------------------------------------------------------- model options
def test_model_options_are_one_dataclass_with_one_codec():
    from medsr_bench.models.engine import PRECISIONS
    from medsr_bench.models.network import DEEP_DEFAULTS
    from medsr_bench.models.options import ModelOptions

    assert DEEP_DEFAULTS == ModelOptions().to_dict()
    opts = ModelOptions(gray="luma", tile=32, channels_last=False)
    assert ModelOptions.from_dict(opts.to_dict()) == opts
    assert {p: ModelOptions(precision=p).precision for p in PRECISIONS} == {p: p for p in PRECISIONS}
    for bad, needle in (({"backend": "onnx"}, "backend must be one of torch, ncnn"),
                        ({"precision": "int3"}, "precision must be one of"),
                        ({"tile_pad": -1}, "tile_pad must be >= 0")):
        with pytest.raises(ValueError, match=needle):
            ModelOptions(**bad)
    with pytest.raises(ValueError, match="unknown key 'tiles'"):
        ModelOptions.from_dict({"tiles": 2})
    infos = st.setting_infos()
    assert [i.field for i in infos.values() if i.group == "model"] == list(DEEP_DEFAULTS)
    assert st.validate_settings({"model.backend": "ncnn", "model.channels_last": "false"}) == \
        {"model.backend": "ncnn", "model.channels_last": False}
    with pytest.raises(st.SettingError, match="model.backend='onnx': backend must be one of"):
        st.validate_settings({"model.backend": "onnx"})

"""Training recipes (``bench train``): every recipe runs, resume is exact, the loss falls, a missing
VGG19 stops the recipe, a registered checkpoint is what ``load_model`` (the runner's entry) loads.

Tiny real crops on CPU: a handful of real images from ``../shared/data`` (skipped when absent),
patches of 32-128 px, 1-2 images per batch, random VGG19 (``smoke``) where a perceptual loss is used.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from typer.testing import CliRunner

from medsr_bench.models import WeightsError, load_model
from medsr_bench.models.train import trained
from medsr_bench.models.train.recipes import Recipe, get_recipe, list_recipes
from medsr_bench.models.train.trainer import Trainer, TrainError, TrainSettings
from medsr_bench.models.train.vgg import VGG_SHA256, VGG_URL, VGGMissing

#: per recipe: the smallest settings that still run every part of the recipe
TINY = {"batch_size": 1, "gt_size": 32, "val_count": 0, "checkpoint_every": 1, "pair_pool": 0,
        "degradation": {"crop_pad_size": 64}}
TINY_GT = {"beallor-srgan": 128}  # the P4 discriminator takes 128x128 crops
LIMIT = {"brats2018": 2, "cptac-gbm": 2, "stare": 3, "shenzhen": 3}


def tiny(name: str, **extra) -> Recipe:
    r = get_recipe(name)
    return r.with_overrides({**TINY, "gt_size": TINY_GT.get(name, 32), **extra})


def settings(data, tmp_path, **kw) -> TrainSettings:
    base = dict(data_root=data, weights_dir=tmp_path / "w", out=tmp_path / "run", smoke=True,
                max_iters=2, device="cpu", progress=False)
    return TrainSettings(**{**base, **kw})


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ----------------------------------------------------------------------------- recipes as data
def test_recipes_registered_and_cited():
    assert set(list_recipes()) == {"beallor-srresnet", "beallor-srgan", "rashid-realesrgan-1ch",
                                   "rashid-realesrnet-1ch", "aghelan-finetune-retina",
                                   "aghelan-finetune-cxr"}
    for name in list_recipes():
        r = get_recipe(name)
        fields = {f.name for f in dataclasses.fields(r)} - {"name", "sources", "model_row",
                                                            "netd_row", "paper"}
        assert fields <= set(r.sources), name
    assert get_recipe("rashid-realesrgan-1ch").total_iter == 300_000
    assert get_recipe("aghelan-finetune-cxr").total_iter == 16_600
    assert get_recipe("beallor-srresnet").iterations(1000) == 100_000  # 100 epochs, batch 1


def test_overrides_typed_and_checked():
    r = get_recipe("beallor-srresnet").with_overrides(["gt_size=96", "lr_g=1e-3", "milestones=[5,9]"])
    assert (r.gt_size, r.lr_g, r.milestones) == (96, 1e-3, (5, 9))
    with pytest.raises(ValueError, match="unknown recipe field"):
        r.with_overrides(["nope=1"])
    with pytest.raises(ValueError, match="expected int"):
        r.with_overrides(["gt_size=big"])


# ----------------------------------------------------------------------------- every recipe runs
@pytest.mark.parametrize("name", sorted(list_recipes()))
def test_every_recipe_two_iterations(name, shared_data, tmp_path):
    r = tiny(name)
    t = Trainer(r, settings(shared_data, tmp_path, limit=LIMIT[r.dataset]))
    rec = t.run(log=lambda *_: None)
    assert rec["iterations_done"] == 2 and rec["under_trained"] and rec["smoke"]
    assert rec["recipe"] == name and rec["row"] == r.model_row
    logged = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(logged) == 3 and logged[0].startswith("iteration,")
    stored = trained.read_record(tmp_path / "w", r.model_row)
    assert stored["sha256"] == rec["sha256"]
    if r.init_g and not r.init_g.startswith("trained:"):
        assert any("random init" in n for n in rec["notes"])  # smoke without the official weights


# ----------------------------------------------------------------------------- resume
def _params(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("name", ["beallor-srresnet", "rashid-realesrgan-1ch"])
def test_resume_is_bitwise_equal(name, shared_data, tmp_path):
    r = tiny(name, use_flip=True, use_rot=True, gt_size=16 if name.startswith("rashid") else 32)
    lim = LIMIT[r.dataset]
    straight = Trainer(r, settings(shared_data, tmp_path / "a", max_iters=4, limit=lim, register=False))
    straight.run(log=lambda *_: None)
    first = Trainer(r, settings(shared_data, tmp_path / "b", max_iters=2, limit=lim, register=False))
    first.run(log=lambda *_: None)
    second = Trainer(r, settings(shared_data, tmp_path / "b", max_iters=4, limit=lim, register=False,
                                 resume=True))
    second.run(log=lambda *_: None)
    a, b = _params(tmp_path / "a" / "run" / "model.pth"), _params(tmp_path / "b" / "run" / "model.pth")
    for key in ("params", "params_ema"):
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (key, k)
    rows = (tmp_path / "b" / "run" / "log.csv").read_text().splitlines()
    assert [x.split(",")[0] for x in rows[1:]] == ["1", "2", "3", "4"]


def test_resume_refuses_other_recipe_and_fresh_run_refuses_old_dir(shared_data, tmp_path):
    r = tiny("beallor-srresnet")
    Trainer(r, settings(shared_data, tmp_path, limit=2, register=False)).run(log=lambda *_: None)
    with pytest.raises(TrainError, match="already holds a run"):
        Trainer(r, settings(shared_data, tmp_path, limit=2, register=False)).run()
    other = r.with_overrides({"lr_g": 5e-4})
    with pytest.raises(TrainError, match="another recipe"):
        Trainer(other, settings(shared_data, tmp_path, limit=2, resume=True, max_iters=3)).run()


# ----------------------------------------------------------------------------- the loss falls
def test_loss_decreases_on_a_fixed_batch(shared_data, tmp_path):
    r = tiny("beallor-srresnet", batch_size=2, gt_size=48, lr_g=1e-3)
    t = Trainer(r, settings(shared_data, tmp_path, limit=2, max_iters=40, register=False))
    batch = t.sampler.next_batch()
    t.sampler.next_batch = lambda: batch  # the same real patches every step
    losses = [t.step()["l_pix"] for _ in range(30)]
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses


# ----------------------------------------------------------------------------- missing VGG19
def test_missing_vgg_stops_with_one_line(shared_data, tmp_path):
    r = tiny("beallor-srgan")
    with pytest.raises(VGGMissing) as e:
        Trainer(r, settings(shared_data, tmp_path, smoke=False, limit=2))
    msg = str(e.value)
    assert "\n" not in msg
    for part in ("vgg19-dcbb9e9d.pth", VGG_URL, VGG_SHA256, "bench weights fetch vgg19"):
        assert part in msg


def test_cli_missing_vgg_and_unknown_recipe(shared_data, tmp_path):
    from medsr_bench.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["train", "--recipe", "beallor-srgan", "--data-root", str(shared_data),
                              "--weights-dir", str(tmp_path), "--max-iters", "1", "-q"])
    assert res.exit_code == 2
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert lines[-1].startswith("error: vgg19:") and VGG_SHA256 in lines[-1]
    res = runner.invoke(app, ["train", "--recipe", "nope"])
    assert res.exit_code == 2 and "error: unknown recipe 'nope'" in res.output


def test_init_weights_absent_is_an_error_outside_smoke(shared_data, tmp_path):
    r = tiny("rashid-realesrnet-1ch").with_overrides({"init_g": "realesrgan-1ch"})
    with pytest.raises(TrainError, match="whose weights are absent"):
        Trainer(r, settings(shared_data, tmp_path, smoke=False, limit=2))


# ----------------------------------------------------------------------------- registration
def test_registered_checkpoint_is_what_load_model_loads(shared_data, tmp_path):
    import numpy as np

    wd = tmp_path / "w"
    r = tiny("beallor-srresnet")
    # a real (non-smoke) run on another protocol: its own row, under-trained, loadable
    rec = Trainer(r, settings(shared_data, tmp_path, smoke=False, dataset="brats2018",
                              limit=2)).run(log=lambda *_: None)
    assert rec["row"] == "srresnet-brats2018" and rec["base_row"] == "srresnet"
    m = load_model("srresnet-brats2018", weights_dir=wd, device="cpu")
    assert m.weights["sha256"] == rec["sha256"] and m.weights["sha256_verified"]
    assert m.weights["trained"]["iterations_done"] == 2
    assert "UNDER-TRAINED" in m.spec.description and "brats2018" in m.spec.description
    out = m.upscale(np.zeros((1, 8, 8), np.float32), 4)
    assert out.shape == (1, 32, 32)
    # the paper's row stays missing: a BraTS-trained SRResNet never stands in for P4's
    with pytest.raises(WeightsError, match="srresnet_p4_x4.pth"):
        load_model("srresnet", weights_dir=wd, device="cpu")
    # a smoke run registers the paper's row but is refused unless told
    Trainer(r, settings(shared_data, tmp_path / "s", weights_dir=wd, limit=2)).run(log=lambda *_: None)
    with pytest.raises(WeightsError, match="smoke run"):
        load_model("srresnet", weights_dir=wd, device="cpu")
    m = load_model("srresnet", weights_dir=wd, device="cpu", allow_smoke=True)
    assert m.weights["trained"]["smoke"] is True
    # a tampered file fails its recorded sha256
    (wd / "trained" / "srresnet-brats2018.pth").write_bytes(b"x")
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        load_model("srresnet-brats2018", weights_dir=wd, device="cpu")


def test_smoke_never_replaces_a_real_registration(shared_data, tmp_path):
    wd = tmp_path / "w"
    r = tiny("beallor-srresnet")
    real = Trainer(r, settings(shared_data, tmp_path / "a", weights_dir=wd, smoke=False,
                               limit=2)).run(log=lambda *_: None)
    Trainer(r, settings(shared_data, tmp_path / "b", weights_dir=wd, limit=2)).run(log=lambda *_: None)
    assert json.loads(trained.record_path(wd, "srresnet").read_text())["sha256"] == real["sha256"]


def test_deviate_records_d_from_scratch_and_no_perceptual_term(shared_data, tmp_path):
    r = tiny("beallor-srgan").with_overrides({"init_g": None, "init_d": "srgan-netd"})
    with pytest.raises(VGGMissing):  # without --deviate a missing VGG19 still stops the recipe
        Trainer(r, settings(shared_data, tmp_path, smoke=False, limit=2))
    t = Trainer(r, settings(shared_data, tmp_path, smoke=False, deviate=True, limit=2, max_iters=1))
    assert t.cri_percep is None and t.net_d is not None
    assert [d.split(":")[0] for d in t.deviations] == [
        "perceptual term off (weight 1.0 in the recipe)", "D starts from random init"]
    rec = t.run(log=lambda *_: None)
    assert rec["deviations"] == t.deviations and not rec["smoke"] and rec["under_trained"]
    assert trained.read_record(tmp_path / "w", rec["row"])["deviations"] == t.deviations

"""DISTS: the loading code and the forward pass on a random-init fixture (the real VGG16 and
alpha/beta files are not in the repository), against pyiqa 0.1.16 ``DISTS`` given the same weights;
and the missing-weights column when the files are absent."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from medsr_bench.benchmark.metrics import MetricSettings, compute_metrics, metric_status
from medsr_bench.benchmark.metrics import dists as dm
from medsr_bench.benchmark.metrics.registry import reference_tolerances


@pytest.fixture
def fixture_weights(tmp_path, monkeypatch):
    """A random VGG16 ``features.*`` state dict and random alpha/beta, under the expected names."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None)
    torch.save(vgg.state_dict(), tmp_path / dm.VGG_FILE)
    ab = {"alpha": torch.rand(1, 1475, 1, 1) * 0.1, "beta": torch.rand(1, 1475, 1, 1) * 0.1}
    torch.save(ab, tmp_path / dm.ALPHA_BETA_FILES[1])
    monkeypatch.setenv("MEDSR_DISTS_WEIGHTS", str(tmp_path))
    dm._model.cache_clear()
    yield tmp_path
    dm._model.cache_clear()


def _pair(seed=1, h=64, w=72):
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-30, 31, hr.shape), 0, 255).astype(np.uint8)
    return sr, hr


def test_missing_weights_column(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSR_DISTS_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(dm, "weight_dirs", lambda: [tmp_path])
    dm._model.cache_clear()
    status, note = metric_status("dists")
    assert status == "missing-weights" and dm.VGG_FILE in note and "pip download DISTS_pytorch" in note
    sr, hr = _pair()
    v, n = compute_metrics(sr, hr, MetricSettings(channel="rgb"), ["dists"])
    assert math.isnan(v["dists"]) and "missing weights" in n


def test_loads_fixture_and_matches_pyiqa(fixture_weights, monkeypatch):
    vgg, ab = dm.find_weights()
    assert vgg is not None and ab is not None and metric_status("dists") == ("ok", "")
    assert not dm.sha256_ok(ab)  # the fixture is not the published file
    sr, hr = _pair()
    s = MetricSettings(channel="rgb")
    v, note = compute_metrics(sr, hr, s, ["dists"])
    same, _ = compute_metrics(hr, hr, s, ["dists"])
    assert note == "" and 0.0 < v["dists"] < 1.0 and abs(same["dists"]) < 1e-6

    pyiqa_dists = pytest.importorskip("pyiqa.archs.dists_arch",
                                      reason="the [iqa] extra (pyiqa 0.1.16) is not installed")
    import torchvision

    real_vgg16 = torchvision.models.vgg16
    monkeypatch.setattr(pyiqa_dists.models, "vgg16", lambda weights=None: real_vgg16(weights=None))
    ref = pyiqa_dists.DISTS(pretrained=False)
    ours = dm._model("cpu")
    missing, unexpected = ref.load_state_dict(ours.state_dict(), strict=False)
    assert not unexpected and all(k.endswith("filter") for k in missing)
    t = lambda a: torch.from_numpy(a.transpose(2, 0, 1)[None] / 255.0).float()  # noqa: E731
    with torch.no_grad():
        want = float(ref(t(sr), t(hr)))
    # the spec's 1e-5: both run the same float32 layers; only summation order differs
    assert abs(v["dists"] - want) < reference_tolerances()["dists"]


def test_gray_is_replicated(fixture_weights):
    sr, hr = _pair()
    g_sr, g_hr = sr[..., 0], hr[..., 0]
    a, _ = compute_metrics(g_sr, g_hr, MetricSettings(channel="gray"), ["dists"])
    b, _ = compute_metrics(np.repeat(g_sr[..., None], 3, -1), np.repeat(g_hr[..., None], 3, -1),
                           MetricSettings(channel="rgb"), ["dists"])
    assert abs(a["dists"] - b["dists"]) < 1e-6

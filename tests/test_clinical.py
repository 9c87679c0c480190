"""Clinical-fidelity evaluators on planted cases: segmentation Dice / clDice, the vessel segmenter's
threshold cross-fit, LR-consistency with the protocol's own degradation, opensr-test correctness
classes, and user tasks from a TOML config."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from medsr_bench.benchmark.clinical import (
    EVALUATORS,
    ClinicalSettings,
    evaluate_batch,
    load_task_config,
)
from medsr_bench.benchmark.clinical.correctness import (
    HALLUCINATION,
    IMPROVEMENT,
    NOT_CLASSED,
    OMISSION,
    CorrectnessSettings,
    correctness_map,
    percentages,
)
from medsr_bench.benchmark.clinical.segmentation import cldice, folder_group
from medsr_bench.benchmark.metrics import MetricSettings
from medsr_bench.data_prep.vessels import SegmenterSettings, dice, fit_threshold, vesselness


def _scene(seed=0, n=96):
    rng = np.random.default_rng(seed)
    hr = np.clip(gaussian_filter(rng.random((n, n)), 1.0) * 1.6 - 0.3, 0, 1)
    base = gaussian_filter(hr, 2.0)  # stands in for the interpolation of the LR
    return hr, base


# ------------------------------------------------------------------ correctness (opensr-test)
def test_perfect_sr_is_improvement_and_baseline_is_omission():
    hr, base = _scene()
    s = CorrectnessSettings()
    c = correctness_map(hr.copy(), base, hr, s)
    classed = c != NOT_CLASSED
    assert classed.sum() > 1000
    assert np.all(c[classed] == IMPROVEMENT)
    c = correctness_map(base.copy(), base, hr, s)
    assert np.all(c[c != NOT_CLASSED] == OMISSION)
    assert percentages(c)["omission"] == 100.0


def test_planted_copied_patch_is_hallucination_blurred_patch_is_omission():
    hr, base = _scene(1)
    sr = hr.copy()
    # a patch copied from elsewhere in the image: plausible texture, in neither HR nor the input
    sr[10:30, 10:30] = hr[60:80, 60:80]
    # a patch blurred back to the interpolation: detail the SR failed to add
    sr[60:80, 10:30] = base[60:80, 10:30]
    c = correctness_map(sr, base, hr, CorrectnessSettings())
    copied, blurred, rest = c[10:30, 10:30], c[60:80, 10:30], c[40:56, 40:90]
    assert np.mean(copied[copied != NOT_CLASSED] == HALLUCINATION) > 0.6
    assert np.all(blurred[blurred != NOT_CLASSED] == OMISSION)
    assert np.all(rest[rest != NOT_CLASSED] == IMPROVEMENT)
    pct = percentages(c)
    assert pct["hallucination"] > 0 and pct["omission"] > 0
    assert abs(sum(pct.values()) - 100.0) < 1e-9


def test_correctness_shape_mismatch_raises():
    with pytest.raises(ValueError, match="differ"):
        correctness_map(np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 5)))


# ------------------------------------------------------------------ Dice, clDice
def test_dice_and_cldice_by_hand():
    a = np.zeros((20, 20), bool)
    a[5, 2:18] = True  # a 1-px vessel of 16 px
    b = a.copy()
    b[5, 10:18] = False  # half of it lost
    assert dice(a, a) == 1.0 and cldice(a, a) == 1.0
    assert dice(a, b) == pytest.approx(2 * 8 / 24)
    # skeleton of b lies inside a (Tprec 1); half of a's skeleton inside b (Tsens ~ 0.5)
    assert 0.6 < cldice(b, a) < 0.72
    assert dice(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0
    assert cldice(a, np.zeros_like(a)) == 0.0


def test_cldice_rewards_connectivity_more_than_dice():
    t = np.zeros((40, 40), bool)
    t[20, 2:38] = True
    t[19:22, 2:38] = True  # a 3-px vessel
    broken = t.copy()
    broken[:, 10:12] = broken[:, 20:22] = broken[:, 30:32] = False
    thinned = np.zeros_like(t)
    thinned[20, 2:38] = True
    # thinned keeps the topology (clDice 1) at a low Dice; broken keeps Dice but loses the centreline
    assert cldice(thinned, t) > cldice(broken, t)
    assert dice(thinned, t) < dice(broken, t)


# ------------------------------------------------------------------ segmenter
def _vessel_image(seed=0, n=80):
    rng = np.random.default_rng(seed)
    truth = np.zeros((n, n), bool)
    for r in rng.integers(8, n - 8, 4):
        truth[r - 1:r + 1, 4:n - 4] = True
    for c in rng.integers(8, n - 8, 3):
        truth[4:n - 4, c] = True
    img = 0.7 - 0.35 * gaussian_filter(truth.astype(float), 0.7) + rng.normal(0, 0.01, truth.shape)
    return np.clip(np.stack([img * 0.9, img, img * 0.5], axis=2), 0, 1), truth


def test_segmenter_finds_planted_vessels_and_blur_loses_them():
    s = SegmenterSettings(fov_erode=0)
    imgs = [_vessel_image(i) for i in range(3)]
    resp = [vesselness(x, s) for x, _ in imgs]
    rois = [np.ones(t.shape, bool) for _, t in imgs]
    t, d = fit_threshold(resp[:2], rois[:2], [t for _, t in imgs[:2]])
    img, truth = imgs[2]
    assert dice(vesselness(img, s) >= t, truth) > 0.6 and d > 0.6
    blurred = gaussian_filter(img, (3, 3, 0))
    assert dice(vesselness(blurred, s) >= t, truth) < dice(vesselness(img, s) >= t, truth) - 0.2


def test_segmenter_settings_validate():
    with pytest.raises(ValueError, match="method"):
        SegmenterSettings(method="unet")
    with pytest.raises(ValueError, match="sigmas"):
        SegmenterSettings(sigmas=())


def test_folder_group():
    assert folder_group("DRIVE/test/images/01_test.tif") == "DRIVE/test"
    assert folder_group("DRIVE/training/images/21_training.tif") == "DRIVE/training"


# ------------------------------------------------------------------ batch entry point
class _FakeProto:
    name = "fake"

    def degrade_hr(self, hr, meta):
        return hr[::2, ::2]


class _Meta:
    scale = 2
    image_id = "x"
    source = "F/a/images/x.png"


class _S:
    def __init__(self, hr):
        self.hr = hr.astype(np.float32)
        self.lr = hr[::2, ::2].astype(np.float32)
        self.meta = _Meta()


def test_lr_consistency_flags_content_the_input_does_not_explain():
    hr, _ = _scene(2, 64)
    s = _S(hr)
    ms = MetricSettings(channel="gray")
    good, _ = evaluate_batch(_FakeProto(), [s], hr[None].astype(np.float32), None, ms,
                             ClinicalSettings(evaluators=("lr-consistency",)))
    bad_sr = hr.copy()
    bad_sr[0:32:2, 0:32:2] = 1.0 - bad_sr[0:32:2, 0:32:2]  # changes pixels the LR was made of
    bad, _ = evaluate_batch(_FakeProto(), [s], bad_sr[None].astype(np.float32), None, ms,
                            ClinicalSettings(evaluators=("lr-consistency",)))
    assert np.isinf(good["psnr@lr"][0]) and good["ssim@lr"][0] == pytest.approx(1.0)
    assert bad["psnr@lr"][0] < 20 and bad["ssim@lr"][0] < 0.9


def test_evaluator_failure_is_a_note_not_a_crash():
    class NoDegrade(_FakeProto):
        def degrade_hr(self, hr, meta):
            raise NotImplementedError("fake: no HR -> LR degradation hook")

    hr, _ = _scene(3, 32)
    cols, notes = evaluate_batch(NoDegrade(), [_S(hr)], hr[None].astype(np.float32), None,
                                 MetricSettings(channel="gray"),
                                 ClinicalSettings(evaluators=("lr-consistency",)))
    assert np.isnan(cols["psnr@lr"][0]) and "no HR -> LR" in notes[0]


def test_clinical_settings_validate():
    with pytest.raises(ValueError, match="unknown evaluator"):
        ClinicalSettings(evaluators=("nope",))
    with pytest.raises(ValueError, match="not found"):
        ClinicalSettings(tasks_file="/nonexistent/tasks.toml")


def test_user_task_from_config(tmp_path):
    from medsr_bench.data_prep.io import read_raster  # noqa: F401  (reader used by the task)
    from tests.data_fixtures import write_png

    img, truth = _vessel_image(5)
    (tmp_path / "set" / "images").mkdir(parents=True)
    (tmp_path / "set" / "labels").mkdir()
    write_png(tmp_path / "set" / "labels" / "x.png", (truth * 255).astype(np.uint8))
    cfg = tmp_path / "tasks.toml"
    cfg.write_text('[tasks.planted]\nprotocols = ["fake"]\ntruth = "{root}/set/labels/{stem}.png"\n'
                   'fit = 0.02\n[tasks.planted.segmenter]\nfov_erode = 0\nmethod = "sato"\n')
    (task,) = load_task_config(cfg)
    assert "planted" in EVALUATORS and task.fit == 0.02

    class Meta(_Meta):
        source = "set/images/x.png"

    class S(_S):
        def __init__(self, hr):
            super().__init__(hr)
            self.meta = Meta()

    class P(_FakeProto):
        def regions(self, root, meta):
            return {}

    s = S(img)
    cols, notes = evaluate_batch(P(), [s], img[None].astype(np.float32), tmp_path,
                                 MetricSettings(), ClinicalSettings(evaluators=(), tasks_file=str(cfg)))
    assert not notes[0], notes
    assert cols["dice@planted-hrseg"][0] == 1.0  # SR = HR: same segmentation
    assert cols["dice@planted"][0] == pytest.approx(cols["planted_hr_dice"][0])
    bad = tmp_path / "bad.toml"
    bad.write_text("[tasks.x]\nprotocols = ['fake']\nfit = 'otsu'\n")
    with pytest.raises(ValueError, match="bad.toml"):
        load_task_config(bad)


@pytest.mark.parametrize("name", ["demo-retina", "demo-cxr", "demo-brain", "demo-ct"])
def test_degrade_hr_is_the_protocols_own_degradation(name):
    """``degrade_hr`` applied to a sample's HR gives exactly the LR the protocol prepared."""
    from medsr_bench.data_prep import get_protocol

    proto = get_protocol(name)
    s = next(iter(proto.samples(None, proto.eval_split, 1)))
    assert np.array_equal(proto.degrade_hr(s.hr, s.meta), s.lr)


def test_run_writes_clinical_columns_and_honours_the_setting(bench_env):
    """``bench run`` scores the clinical columns on the embedded demo; ``--set
    clinical.evaluators=lr-consistency`` keeps only that evaluator and is recorded in run.json."""
    import json

    import pandas as pd

    from tests.cli_helpers import bench

    out = bench_env / "run"
    r = bench("run", "--suite", "demo", "--models", "bilinear,bicubic", "--limit", "1", "--out", out,
              "--workers", "1", "-q")
    assert r.exit_code == 0, r.output
    d = pd.read_csv(out / "per_image.csv")
    for c in ("psnr@lr", "ssim@lr", "hallucination@opensr", "omission@opensr", "improvement@opensr"):
        assert d[c].notna().all(), c
    assert (d[d.model == "bicubic"]["omission@opensr"] == 100.0).all()  # the baseline itself
    s = pd.read_csv(out / "summary.csv")
    assert "psnr@lr" in set(s.metric)
    out2 = bench_env / "run2"
    r = bench("run", "--suite", "demo", "--models", "bicubic", "--limit", "1", "--out", out2,
              "--workers", "1", "-q", "--set", "clinical.evaluators=lr-consistency")
    assert r.exit_code == 0, r.output
    d = pd.read_csv(out2 / "per_image.csv")
    assert "psnr@lr" in d and "hallucination@opensr" not in d
    assert json.loads((out2 / "run.json").read_text())["config"]["settings"] == {
        "clinical.evaluators": ["lr-consistency"]}


@pytest.mark.shared
@pytest.mark.slow
def test_drive_threshold_is_cross_fitted_on_the_other_folder(shared_data):
    """On real DRIVE: one threshold per folder, each fitted on the other folder's 20 HR images
    (never on the image's own annotation), with an in-fold Dice of the classical segmenter that
    is about 0.7 (a U-Net reaches about 0.82)."""
    from medsr_bench.benchmark.clinical.segmentation import DRIVE_VESSELS, _cross_fit
    from medsr_bench.data_prep import get_protocol

    proto = get_protocol("drive")
    fits = _cross_fit(DRIVE_VESSELS, proto, str(shared_data))
    assert set(fits) == {"DRIVE/test", "DRIVE/training"}
    for _group, (t, fit_dice, n) in fits.items():
        assert n == 20 and 0.65 < fit_dice < 0.8 and t > 0
    s = next(iter(proto.samples(shared_data, "all", 1)))
    t, why = DRIVE_VESSELS.threshold_for(proto, shared_data, s.meta)
    own = "DRIVE/test" if "/test/" in s.meta.source else "DRIVE/training"
    assert not why and t == fits[own][0]

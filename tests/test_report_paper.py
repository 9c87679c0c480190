"""Paper tables and the P2 PSNR/MSE audit."""

import math

from medsr_bench.benchmark.report.paper import (
    audit_psnr_mse,
    implied_peak,
    load_paper_tables,
    psnr_from_mse,
)


def test_implied_peak_inverts_psnr():
    mse = 13.05
    p = psnr_from_mse(mse, 255.0)
    assert math.isclose(implied_peak(p, mse), 255.0, rel_tol=1e-12)


def test_paper_tables_cover_every_suite():
    df = load_paper_tables()
    assert set(df.suite) == {"aghelan", "khandare", "rashid", "beallor"}
    # P3 Table 2 bicubic VIF, P1 Table 1 Real-ESRGAN PSNR
    assert df[(df.suite == "rashid") & (df.model == "bicubic") & (df.metric == "vif")].value.item() == 0.64
    assert df[(df.suite == "aghelan") & (df.protocol == "drive")
              & (df.model == "realesrgan-x4plus") & (df.metric == "psnr")].value.item() == 35.33


def test_p2_pairs_are_flagged_inconsistent_with_8bit():
    audit = audit_psnr_mse(load_paper_tables())
    assert len(audit) == 9  # 3 models x 3 images
    # papers/README: the reported pairs do not satisfy PSNR = 10 log10(255^2/MSE)
    assert not any(a["consistent"] for a in audit)
    srgan1 = next(a for a in audit if a["model"] == "srgan" and a["image"] == "img1")
    assert math.isclose(srgan1["psnr_at_255"], 10 * math.log10(255**2 / 13.05))


def test_p2_gan_pairs_match_rgb_summed_mse_and_realesrgan_pairs_match_nothing():
    audit = audit_psnr_mse(load_paper_tables())
    by_model = {}
    for a in audit:
        by_model.setdefault(a["model"], set()).add(a["convention"])
    assert by_model["srgan"] == by_model["esrgan"] == {
        "8-bit RGB, MSE summed over 3 channels (peak 255*sqrt(3))"}
    assert by_model["realesrgan-x4plus"] == {"none"}

"""Synthetic run directories for the report / verdict / export tests (tiny, built in ms).

``make_run(root, layout)`` writes run.json, per_image.csv, summary.csv and samples/ for the P3
suite (``rashid``, protocol brats2018, test split) with 8 images: bicubic better than bilinear on
every image (SSIM, VIF, MAE), realesrgan-1ch with missing weights. ``layout="new"`` has the
``variant`` column and run.json ``variants``; ``"old"`` is the layout before variants.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

VARIANT = "0123456789abcdef"
N = 8


def _png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), (np.clip(img, 0, 1) * 65535).astype(np.uint16))


def make_run(root: Path, layout: str = "new", with_training: bool = False) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(N):
        img = f"Brats18_case{i}_z050"
        base = 0.92 + 0.01 * rng.standard_normal()
        for model, dssim, dvif, dmae in (("bilinear", 0.0, 0.0, 0.0),
                                         ("bicubic", 0.01, 0.09, -0.001)):
            rows.append({"suite": "rashid", "dataset": "brats2018", "variant": VARIANT,
                         "image_id": img, "split": "test", "model": model, "scale": 4,
                         "status": "ok", "psnr": 30 + 10 * (base - 0.9),
                         "ssim": base + dssim + 0.001 * i, "mse": 0.001, "nrmse": 0.04,
                         "mae": 0.011 + dmae, "vif": 0.55 + dvif + 0.002 * i,
                         "seconds": 0.01, "note": ""})
        rows.append({"suite": "rashid", "dataset": "brats2018", "variant": VARIANT,
                     "image_id": img, "split": "test", "model": "realesrgan-1ch", "scale": 4,
                     "status": "missing-weights", "seconds": 0.0,
                     "note": "expected realesrgan_1ch_x4.pth in /w; get it: train it"})
    pi = pd.DataFrame(rows)
    metrics = ["psnr", "ssim", "mse", "nrmse", "mae", "vif"]
    summ = []
    for model, g in pi.groupby("model", sort=False):
        for m in metrics:
            ok = g[g.status == "ok"]
            summ.append({"suite": "rashid", "dataset": "brats2018", "variant": VARIANT,
                         "model": model, "metric": m,
                         "mean": ok[m].mean() if len(ok) else None,
                         "std": ok[m].std() if len(ok) else None, "n": len(g),
                         "status": "ok" if len(ok) else "missing-weights"})
    summary = pd.DataFrame(summ)
    fig = "Brats18_case0_z050"
    samples = f"samples/brats2018/{VARIANT}/{fig}" if layout == "new" else f"samples/brats2018/{fig}"
    hr = rng.random((64, 64)) * 0.2 + np.linspace(0, 0.8, 64)[None, :]
    _png(root / samples / "hr.png", hr)
    _png(root / samples / "lr.png", hr[::4, ::4])
    _png(root / samples / "bicubic.png", hr * 0.95)
    _png(root / samples / "bilinear.png", hr * 0.9)
    entry = {"suite": "rashid", "protocol": "brats2018", "dataset": "brats2018", "split": "test",
             "status": "done", "reason": "", "n_images": N, "figure_image": fig,
             "params": {"pad_to": 256}, "params_hash": "abc", "stand_in_for": None,
             "skipped_files": []}
    meta = {
        "tool": "medsr-bench", "status": "complete", "start_time": "t0", "end_time": "t1",
        "git_commit": "deadbeef", "limit": N, "data_root": "/data", "packages": {"numpy": "x"},
        "device": {"type": "cpu", "name": "test"}, "command": ["bench", "run"],
        "model_order": ["bilinear", "bicubic", "realesrgan-1ch"],
        "models": {"bilinear": {"status": "ok", "family": "interpolation"},
                   "bicubic": {"status": "ok", "family": "interpolation"},
                   "realesrgan-1ch": {"status": "missing-weights", "family": "realesrgan",
                                      "note": "expected realesrgan_1ch_x4.pth in /w; get it: "
                                              "train it", "weights_file": "realesrgan_1ch_x4.pth"}},
        "suites": {"rashid": {"paper": "P3", "title": "Rashid et al.", "notes": [],
                              "metrics": metrics, "paper_models": ["bilinear", "bicubic"],
                              "datasets": [{"protocol": "brats2018",
                                            "paper_table": "P3 Table 2",
                                            "eval": {"data_range": 1.0, "why": "P3"}}]}},
    }
    if layout == "new":
        meta["variants"] = {VARIANT: {**entry, "label": "", "settings": {},
                                      "samples_dir": samples}}
        meta["datasets"] = {}
    else:
        pi = pi.drop(columns=["variant"])
        summary = summary.drop(columns=["variant"])
        meta["datasets"] = {"brats2018": {**entry, "config": {}}}
    pi.to_csv(root / "per_image.csv", index=False)
    summary.to_csv(root / "summary.csv", index=False)
    (root / "run.json").write_text(json.dumps(meta))
    if with_training:
        (root / "training").mkdir()
        pd.DataFrame({"iter": [0, 10, 20], "l1": [0.3, 0.2, 0.15]}).to_csv(
            root / "training" / "realesrgan-1ch.csv", index=False)
    return root

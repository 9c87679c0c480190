"""Training throughput benchmark (``bench train --recipe R --throughput N``): iterations/s and
samples/s of a recipe's training step for fp32, bf16 autocast and channels_last, measured side by
side in one process on the same data, with the ratio to fp32. A benchmark, never a test: nothing is
asserted, numbers are printed with the machine named.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from medsr_bench.core import machine_description, resolve_device
from medsr_bench.models.train.trainer import Trainer


def variants(device: str) -> list[tuple[str, dict]]:
    """``[(label, TrainSettings overrides)]``: bf16 autocast and channels_last only where they can
    help (CUDA); on CPU fp32 only (bf16 autocast on CPU convolutions is slower here)."""
    out = [("fp32", {"amp": "fp32", "channels_last": False})]
    if device == "cuda":
        out += [("bf16", {"amp": "bf16", "channels_last": False}),
                ("bf16+channels_last", {"amp": "bf16", "channels_last": True})]
    return out


def throughput_table(recipe, settings, iters: int, warmup: int = 2, log=print) -> list[dict]:
    """Time ``iters`` training steps (after ``warmup``) of ``recipe`` per variant.

    Returns rows ``{variant, it_per_s, samples_per_s, ratio_vs_fp32}``; nothing is registered and
    the run folders are temporary. Data loading (patch sampling, online degradation) is inside the
    timed step, as in training.
    """

    device = resolve_device(settings.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, over in variants(device):
            s = dataclasses.replace(settings, out=Path(tmp) / label, register=False, progress=False,
                                    resume=False, **over)
            t = Trainer(recipe, s)
            for _ in range(warmup):
                t.step()
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(iters):
                t.step()
            if device == "cuda":
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            rows.append({"variant": label, "it_per_s": iters / dt,
                         "samples_per_s": iters * recipe.batch_size / dt})
    base = rows[0]["it_per_s"]
    log(f"recipe {recipe.name} (batch {recipe.batch_size}, gt_size {recipe.gt_size}); "
        f"machine: {machine_description(device)}")
    log(f"{'variant':22s} {'it/s':>8s} {'samples/s':>10s} {'vs fp32':>8s}")
    for r in rows:
        r["ratio_vs_fp32"] = r["it_per_s"] / base
        log(f"{r['variant']:22s} {r['it_per_s']:8.3f} {r['samples_per_s']:10.2f} "
            f"{r['ratio_vs_fp32']:8.2f}")
    return rows

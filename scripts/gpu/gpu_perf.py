"""Device checks of issue 15 in one run: inference engine vs RealESRGANer and metric engine vs
torchmetrics, written as Markdown tables into an output folder.

On the GPU machine (see ``run_gpu_perf.sh`` and ``results/perf/GPU_TODO.md``)::

    python scripts/gpu/gpu_perf.py --device cuda --out "$OUT"

On CPU (a smoke run of every step with tiny sizes; what the tests run)::

    python scripts/gpu/gpu_perf.py --device cpu --tiny --out /tmp/gpu_smoke

Steps, each appending to its own file as soon as it has a result (a run stopped by its time limit
keeps what it finished):

1. ``env.md``: device name, driver (``nvidia-smi``), torch / CUDA versions, the peak used.
2. ``inference.md``: ``bench perf`` (:func:`medsr_bench.perf.engine.run_perf`) on RRDBNet x4
   (``realesrgan-x4plus``, random-init weights in the official layout when the file is absent) at
   64^2, 128^2, 256^2 and one 1024^2 tiled case, fp16 and bf16, for a ladder of engine options
   (plain; + uint8 device-side I/O + pinned memory; + CUDA graphs; + channels_last off; large
   batch; torch.compile on one size), TFLOP/s against the bf16 dense peak ``--peak-tflops``
   (default 989: H100/H200 SXM datasheet, dense bf16).
3. ``metrics.md``: the metric engine on the device vs torchmetrics on the device
   (:func:`medsr_bench.perf.metrics.run_peer_bench`) on the 256^2 and 1024^2 gray stacks
   (and 512^2 RGB), with the max differences to skimage / sewar.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import medsr_bench.compat  # noqa: F401  (before torchvision / basicsr)

# isort: split
import torch

H200_BF16_DENSE_PEAK = 989.0
"""TFLOP/s, dense bf16 (no sparsity), NVIDIA H100/H200 SXM datasheet; this workplace measured about
790 on an 8192^3 bf16 matrix product (KINDS.md), printed beside it."""

#: (label, PerfOptions overrides, sizes, tiled, precisions); run in this order until the time budget ends
LADDER = [
    ("plain (float I/O, batch = all images)", {}, None, None, None),
    ("uint8 device-side I/O + pinned memory", {"io": "uint8", "pin_memory": True}, None, None, None),
    ("uint8 I/O + pinned + CUDA graphs", {"io": "uint8", "pin_memory": True, "cuda_graphs": True},
     None, None, None),
    ("uint8 I/O + pinned, channels_last off", {"io": "uint8", "pin_memory": True, "channels_last": False},
     None, None, None),
    ("uint8 I/O + pinned + torch.compile (max-autotune-no-cudagraphs), 256^2 only",
     {"io": "uint8", "pin_memory": True, "compile": "max-autotune-no-cudagraphs"}, [256], [], ["bf16"]),
]


def _sh(cmd: str) -> str:
    try:
        return subprocess.run(shlex.split(cmd), capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"n/a ({type(e).__name__})"


def env_md(device: str, peak: float) -> str:
    """Markdown: device, driver, torch, CUDA, peak."""
    lines = ["# Environment", "", f"- command: `{' '.join(shlex.quote(a) for a in sys.argv)}`",
             f"- torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
             f"{torch.backends.cudnn.version() if torch.cuda.is_available() else 'n/a'}",
             f"- peak for the fraction column: {peak:g} TFLOP/s (dense bf16, datasheet; ~790 measured "
             "here on an 8192^3 bf16 GEMM)"]
    if device.startswith("cuda") and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        lines += [f"- device: {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs",
                  "- nvidia-smi: " + _sh("nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,"
                                         "power.limit --format=csv,noheader")]
    else:
        lines.append(f"- device: {device} (no GPU figures: this is a smoke run)")
    return "\n".join(lines) + "\n"


def inference(out: Path, device: str, sizes, tiled, precisions, n_images: int, reps: int, peak: float,
              model: str, weights_dir, batch_large: int, deadline: float, tile: int,
              max_steps: int = 0) -> None:
    """The option ladder of :data:`LADDER` (+ one large-batch line), appended to inference.md."""
    from medsr_bench.perf.engine import TABLE_HEAD, PerfOptions, run_perf

    f = out / "inference.md"
    f.write_text("# Inference engine vs RealESRGANer\n")
    ladder = list(LADDER)
    if batch_large:
        ladder.insert(3, (f"uint8 I/O + pinned, {batch_large} images per measurement and batch",
                          {"io": "uint8", "pin_memory": True, "batch": batch_large}, None, [], None))
    if max_steps:
        ladder = ladder[:max_steps]
    for label, over, sz, tl, pr in ladder:
        if time.time() > deadline:
            with f.open("a") as fh:
                fh.write(f"\n## {label}\n\nnot run: time budget (--budget-s) spent\n")
            continue
        if device == "cpu" and (over.get("cuda_graphs") or over.get("pin_memory") or over.get("compile")):
            over = {k: v for k, v in over.items() if k not in ("cuda_graphs", "pin_memory", "compile")}
            label += " (CUDA-only options dropped on CPU)"
        opts = PerfOptions(tile=tile, **over)
        n = over.get("batch") or n_images
        t0 = time.time()
        try:
            rows, header = run_perf(model, weights_dir, sz if sz is not None else sizes,
                                    pr or precisions, n, reps, device, peak, log=print,
                                    tiled=tl if tl is not None else tiled, options=opts)
        except Exception as e:  # noqa: BLE001 - one failing option must not lose the others
            with f.open("a") as fh:
                fh.write(f"\n## {label}\n\nfailed: {type(e).__name__}: {e}\n")
            print(f"{label}: failed: {e}", flush=True)
            continue
        from medsr_bench.perf.engine import format_row

        with f.open("a") as fh:
            fh.write(f"\n## {label}\n\n- model: {header['model']}\n- machine: {header['machine']}\n"
                     f"- options: {header['options']}; {n} images per measurement, median of {reps} "
                     f"alternating repetitions; {time.time() - t0:.0f} s\n\n{TABLE_HEAD}\n")
            fh.write("\n".join(format_row(r) for r in rows) + "\n")
            fh.write("\nwithin 1/255 of RealESRGANer: "
                     + ", ".join(f"{r.size}{'t' if r.tile else ''}/{r.precision}: "
                                 f"{'yes' if r.max_abs_diff <= 1 / 255 + 1e-9 else 'NO'}" for r in rows) + "\n")


def metrics(out: Path, device: str, cases, reps: int, data_dir, n: int | None = None) -> None:
    """Metric engine on ``device`` vs torchmetrics on ``device`` -> metrics.md."""
    from medsr_bench.core import machine_description
    from medsr_bench.perf.metrics import (
        TORCHMETRICS_MISSING,
        format_peer_markdown,
        have_torchmetrics,
        run_peer_bench,
    )

    f = out / "metrics.md"
    if not have_torchmetrics():
        f.write_text(TORCHMETRICS_MISSING + "\n")
        return
    rows = run_peer_bench(cases, data_dir=data_dir, reps=reps, device=device, log=print, n=n)
    f.write_text(format_peer_markdown(rows, machine_description(device), torch.get_num_threads(), reps,
                                      " ".join(shlex.quote(a) for a in sys.argv)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    ap.add_argument("--tiny", action="store_true", help="smoke sizes (CPU): 16^2, tiled 40^2")
    ap.add_argument("--model", default="realesrgan-x4plus")
    ap.add_argument("--weights-dir", type=Path, default=None)
    ap.add_argument("--data-dir", type=Path, default=None, help="BraTS2018/ NIH_ChestXray14/ DRIVE/ "
                    "subset (synthetic stacks of the same shapes where absent)")
    ap.add_argument("--peak-tflops", type=float, default=H200_BF16_DENSE_PEAK)
    ap.add_argument("--n-images", type=int, default=8)
    ap.add_argument("--batch-large", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--budget-s", type=float, default=330.0, help="inference time budget; later "
                    "ladder steps are skipped (and say so) once it is spent")
    ap.add_argument("--max-steps", type=int, default=0, help="run only the first N option steps")
    ap.add_argument("--skip", default="", help="comma list of steps to skip: inference, metrics")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    (a.out / "env.md").write_text(env_md(a.device, a.peak_tflops))
    print((a.out / "env.md").read_text(), flush=True)
    if a.tiny:
        sizes, tiled, tile, n, big, cases = [16], [40], 16, 2, 3, ("256-gray",)
    else:
        sizes, tiled, tile, n, big, cases = [64, 128, 256], [1024], 256, a.n_images, a.batch_large, \
            ("256-gray", "1024-gray", "512-rgb")
    start = time.time()
    if "inference" not in skip:
        inference(a.out, a.device, sizes, tiled, ["fp16", "bf16"], n, a.reps, a.peak_tflops, a.model,
                  a.weights_dir, big, start + a.budget_s, tile, a.max_steps)
    if "metrics" not in skip:
        metrics(a.out, a.device, cases, a.reps, a.data_dir, 2 if a.tiny else None)
    print(f"done in {time.time() - start:.0f} s; tables in {a.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

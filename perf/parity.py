"""Parity of one checkpoint across implementations, tiling and precisions (``bench parity``).

Three comparisons, each on the same real low-resolution inputs (centre crops of the first ``n``
images of P1's DRIVE and ChestX-ray14 protocols, in the protocols' fixed seeded order) and each
against a stated tolerance (:data:`TOLERANCES`):

(a) **ncnn**: the converted PyTorch network vs Tencent ncnn running the release ``.param``/``.bin``
    on CPU (fp32 arithmetic), both through this project's engine; max |diff| in [0, 1] units and in
    8-bit levels after clamp and rounding.
(b) **RealESRGANer**: the engine vs the official inference helper of the ``realesrgan`` package on
    the same weights, fp32, whole image (``tile=0``) and tiled; and each tiled output against its
    own whole-image output (seams: Real-ESRGAN issues #211 and #197). Compared on uint8 outputs, as
    RealESRGANer returns them. The engine blends overlapping tiles, RealESRGANer pastes them, so the
    two tiled outputs are compared to their whole-image outputs, not to each other's tiles only.
(c) **precision**: fp32 vs ``bf16`` (autocast), ``fp16`` (autocast) and ``bf16-net`` (network cast
    to bfloat16) through :class:`~medsr_bench.models.network.DeepModel` at the protocol's scale
    (DRIVE x2 via outscale, ChestX-ray14 x4): max |diff| in 8-bit levels, the change of every P1
    cell's mean (PSNR, SSIM with each dataset's metric settings from the ``aghelan`` suite) and the
    seconds per image, measured side by side in one run (ratios, not absolute timings, are the
    result on a shared machine). A reduced precision *qualifies* as a fast path when every cell's
    mean moves by less than the tolerance; whether it is faster depends on the CPU (AMX /
    AVX512-BF16: see :func:`cpu_bf16_support`).

The output is a Markdown table (``results/perf/parity_cpu.md`` for the CPU run) with the machine,
the command, the inputs and the tolerance and verdict of every row.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medsr_bench.benchmark.metrics import compute_metrics_batch, to_metric_domain
from medsr_bench.benchmark.suites import SUITES
from medsr_bench.core import load_average, machine_description
from medsr_bench.data_prep import get_protocol
from medsr_bench.data_prep.prepared import iter_samples
from medsr_bench.models.engine import Engine, EngineSettings
from medsr_bench.models.ncnn import backend_network
from medsr_bench.models.network import load_network
from medsr_bench.models.registry import get_spec, load_model
from medsr_bench.models.weights import cache_dir

#: (quantity, limit, why, kind) per comparison; a row passes when its measured value is <= limit.
#: ``kind``: ``parity`` = the same computation in two implementations (a row outside is a defect);
#: ``effect`` = a setting other than the default (tiling, a reduced precision), measured against the
#: default: inside, its rows may stand in for the default's; outside, they are their own variant.
TOLERANCES = {
    "ncnn": ("max |diff| in [0, 1]", 1e-4,
             "two fp32 implementations of the same layers: only summation order differs", "parity"),
    "realesrganer": ("max |diff| in 8-bit levels", 1,
                     "same fp32 network; rounding of values at a .5 boundary may flip one level",
                     "parity"),
    "tiled": ("mean |diff| in 8-bit levels", 0.5,
              "RRDBNet's receptive field exceeds tile_pad, so pixels near seams differ; a tiled run "
              "stands in for a whole-image run only below half a level on average", "effect"),
    "seams": ("engine mean |diff| minus RealESRGANer mean |diff|, tiled vs whole", 0.0,
              "the engine cross-fades overlapping tiles where RealESRGANer pastes them: its seams "
              "must be no worse", "parity"),
    "precision": ("|change of a P1 cell mean|", {"psnr": 0.005, "ssim": 0.00005},
                  "half of the last digit P1 reports (PSNR 2 decimals, SSIM 4)", "effect"),
}
P1_DATASETS = ("drive", "chestxray14")
REDUCED = ("bf16", "fp16", "bf16-net")


@dataclass
class ParityRow:
    """One comparison line of the table (values as measured; ``ok`` against the tolerance)."""

    comparison: str
    case: str
    value: float
    limit: float | None  # None: shown for reference, no verdict (e.g. RealESRGANer's own seams)
    quantity: str
    ok: bool
    detail: str = ""
    kind: str = "parity"  # "parity" | "effect" (see TOLERANCES)


@dataclass
class Crop:
    """One real input: ``lr`` float32 ``(h, w[, 3])`` in [0, 1], ``hr`` its HR crop, protocol scale."""

    dataset: str
    image_id: str
    lr: np.ndarray
    hr: np.ndarray
    scale: int


def cpu_bf16_support() -> dict:
    """Which bfloat16 instructions this CPU has (Linux ``/proc/cpuinfo`` flags): ``amx_bf16``,
    ``avx512_bf16``; without either, PyTorch emulates bf16 matrix products and ``bf16`` /
    ``bf16-net`` run slower than fp32 (measured on an AVX2-only AMD EPYC: ~9x slower)."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {f: f in flags for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2")}


def p1_crops(data_root: Path, n: int, crop: int, prepared_dir: Path | None) -> list[Crop]:
    """Centre crops (``crop`` x ``crop`` LR pixels) of the first ``n`` evaluated images of each P1
    dataset (default protocol parameters). Raises the protocol's DatasetMissing when absent."""
    out = []
    for name in P1_DATASETS:
        proto = get_protocol(name)
        for s in iter_samples(proto, data_root, None, n, cache_dir=prepared_dir):
            h, w = s.lr.shape[:2]
            c = min(crop, h, w)
            y0, x0 = (h - c) // 2, (w - c) // 2
            k = s.meta.scale
            out.append(Crop(name, s.meta.image_id, s.lr[y0:y0 + c, x0:x0 + c].copy(),
                            s.hr[k * y0:k * (y0 + c), k * x0:k * (x0 + c)].copy(), k))
    return out


def _rgb01(lr: np.ndarray) -> np.ndarray:
    return np.repeat(lr[..., None], 3, axis=-1) if lr.ndim == 2 else lr


def _u8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.int16)


def _engine(net, tile: int = 0, tile_pad: int = 10, **kw) -> Engine:
    return Engine(net, 4, "cpu", 1, EngineSettings(tile=tile, tile_pad=tile_pad, batch_size=1, **kw))


def _nchw(rgb01: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb01.transpose(2, 0, 1)))[None].float()


def _hwc(y: torch.Tensor) -> np.ndarray:
    return y[0].permute(1, 2, 0).numpy()


def compare_ncnn(model: str, weights_dir: Path, crops: list[Crop], log=print) -> list[ParityRow]:
    """(a): converted network vs the ncnn pair, both through the engine (fp32, whole image)."""
    spec = get_spec(model)
    net, _ = load_network(spec, weights_dir)
    ours = _engine(net, channels_last=False)
    ncnn_net, info = backend_network(spec, cache_dir(weights_dir))
    theirs = _engine(ncnn_net, channels_last=False)
    qty, lim, *_ = TOLERANCES["ncnn"]
    rows = []
    for c in crops:
        x = _nchw(_rgb01(c.lr))
        a, b = ours(x), theirs(x)
        d = float((a - b).abs().max())
        levels = int(np.abs(_u8(a.numpy()) - _u8(b.numpy())).max())
        rows.append(ParityRow("(a) torch vs ncnn", f"{c.dataset}/{c.image_id}", d, lim, qty, d <= lim,
                              f"{levels} level(s) after 8-bit rounding; ncnn "
                              f"{info['backend'].get('ncnn_version')}"))
        log(_fmt(rows[-1]))
    return rows


def compare_realesrganer(model: str, weights_dir: Path, crops: list[Crop], tile: int, tile_pad: int,
                         log=print) -> list[ParityRow]:
    """(b): engine vs ``realesrgan.RealESRGANer`` (fp32, ``pre_pad=0``), whole and tiled, uint8;
    and tiled vs whole of each."""
    from realesrgan import RealESRGANer  # optional dependency ([test] / basicsr stack)

    spec = get_spec(model)
    net, info = load_network(spec, weights_dir)
    whole, tiled = _engine(net), _engine(net, tile=tile, tile_pad=tile_pad)
    helpers = {t: RealESRGANer(scale=spec.scale, model_path=info["path"], model=spec.arch(), tile=t,
                               tile_pad=tile_pad, pre_pad=0, half=False, device=torch.device("cpu"))
               for t in (0, tile)}
    q8, lim8, *_ = TOLERANCES["realesrganer"]
    qt, limt, *_ = TOLERANCES["tiled"]
    qs, lims, *_ = TOLERANCES["seams"]
    rows = []
    for c in crops:
        u8 = np.rint(_rgb01(c.lr) * 255).astype(np.uint8)
        mine = {t: eng.run_uint8(u8[None])[0].astype(np.int16) for t, eng in ((0, whole), (tile, tiled))}
        ref = {t: h.enhance(np.ascontiguousarray(u8[..., ::-1]), outscale=spec.scale)[0][..., ::-1]
               .astype(np.int16) for t, h in helpers.items()}
        case = f"{c.dataset}/{c.image_id}"
        tiles = f"tiled {tile}/{tile_pad}"
        seam = {}
        for key, label, a, b, q, lim, mean, kind in (
                ("whole", "(b) engine vs RealESRGANer, whole", mine[0], ref[0], q8, lim8, False,
                 "parity"),
                ("engine", f"(b) engine {tiles} vs engine whole", mine[tile], mine[0], qt, limt, True,
                 "effect"),
                ("RealESRGANer", f"(b) RealESRGANer {tiles} vs its whole", ref[tile], ref[0], qt, None,
                 True, "effect"),
                ("pair", f"(b) engine vs RealESRGANer, {tiles}", mine[tile], ref[tile], qt, None, True,
                 "parity")):
            d = np.abs(a - b)
            v = float(d.mean()) if mean else float(d.max())
            seam[key] = v
            rows.append(ParityRow(label, case, v, lim, q, lim is None or v <= lim,
                                  f"max {int(d.max())} level(s), {100 * float((d > 0).mean()):.2f} % "
                                  "of values differ" + ("" if lim is not None else
                                                        "; reference, no tolerance"), kind))
            log(_fmt(rows[-1]))
        diff = seam["engine"] - seam["RealESRGANer"]
        rows.append(ParityRow(f"(b) seams: engine {tiles} vs RealESRGANer {tiles}", case, diff, lims, qs,
                              diff <= lims, f"engine {seam['engine']:.3f} vs RealESRGANer "
                              f"{seam['RealESRGANer']:.3f} mean level(s) from their whole image"))
        log(_fmt(rows[-1]))
    return rows


def compare_precisions(model: str, weights_dir: Path, crops: list[Crop], precisions=REDUCED,
                       log=print) -> tuple[list[ParityRow], list[dict]]:
    """(c): fp32 vs each reduced precision at the protocol scale: 8-bit max |diff|, P1 cell means
    (PSNR, SSIM; aghelan's metric settings) over the crops, and seconds per image measured
    alternately after one untimed warm-up of each precision."""
    suite = SUITES["aghelan"]
    msets = {d.protocol: d.metrics for d in suite.datasets}
    models = {p: load_model(model, weights_dir, device="cpu", precision=p) for p in ("fp32", *precisions)}
    outs: dict[str, list[np.ndarray]] = {p: [] for p in models}
    secs: dict[str, float] = {p: 0.0 for p in models}
    for m in models.values():  # warm-up (oneDNN primitive creation), not timed
        m.upscale(crops[0].lr[None], crops[0].scale)
    for c in crops:
        for p, m in models.items():  # alternate precisions per image: same load for all
            t = time.perf_counter()
            outs[p].append(m.upscale(c.lr[None], c.scale)[0])
            secs[p] += time.perf_counter() - t
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for p in models:
        for ds in P1_DATASETS:
            idx = [i for i, c in enumerate(crops) if c.dataset == ds]
            if not idx:
                continue
            ms = msets[ds]
            sr = to_metric_domain(np.stack([outs[p][i] for i in idx]), ms)
            hr = to_metric_domain(np.stack([crops[i].hr for i in idx]), ms)
            vals, _ = compute_metrics_batch(sr, hr, ms, names=["psnr", "ssim"])
            cells[(p, ds)] = {k: float(np.mean(v)) for k, v in vals.items()}
    q, lims, *_ = TOLERANCES["precision"]
    rows, speed = [], []
    for p in precisions:
        d8 = max(int(np.abs(_u8(a) - _u8(b)).max()) for a, b in zip(outs[p], outs["fp32"], strict=True))
        for ds in P1_DATASETS:
            if (p, ds) not in cells:
                continue
            for metric, lim in lims.items():
                delta = cells[(p, ds)][metric] - cells[("fp32", ds)][metric]
                rows.append(ParityRow(f"(c) {p} vs fp32", f"P1 {ds} {metric.upper()} cell mean",
                                      abs(delta), lim, q, abs(delta) <= lim,
                                      f"fp32 {cells[('fp32', ds)][metric]:.4f} -> {p} "
                                      f"{cells[(p, ds)][metric]:.4f} ({delta:+.5f}); max {d8} "
                                      "8-bit level(s) over all images", "effect"))
                log(_fmt(rows[-1]))
        speed.append({"precision": p, "s_per_image": secs[p] / len(crops),
                      "fp32_s_per_image": secs["fp32"] / len(crops),
                      "speedup": secs["fp32"] / secs[p] if secs[p] else float("nan")})
    return rows, speed


@dataclass
class ParityOptions:
    """What ``bench parity`` measures.

    Attributes:
        model: registry name of a network with an ncnn release (``realesrgan-x4plus``).
        n: images per P1 dataset in (a) and (b); n_precision: in (c) (bf16 is emulated, and
            slow, on CPUs without AMX / AVX512-BF16). crop: LR crop side in pixels (centre crop).
        tile, tile_pad: tiling of both sides in (b), LR pixels.
        precisions: reduced precisions of (c).
        skip: comparisons to leave out (``ncnn``, ``realesrganer``, ``precision``).
    """

    model: str = "realesrgan-x4plus"
    n: int = 3
    n_precision: int = 2
    crop: int = 64
    tile: int = 32
    tile_pad: int = 10
    precisions: tuple[str, ...] = REDUCED
    skip: tuple[str, ...] = ()


def run_parity(data_root: Path, weights_dir: Path, opts: ParityOptions, prepared_dir: Path | None = None,
               log=print) -> tuple[list[ParityRow], list[dict], dict]:
    """All three comparisons; returns ``(rows, speed rows, header)``. Raises WeightsMissing /
    NcnnError / DatasetMissing with one-line messages when something needed is absent."""
    crops = p1_crops(Path(data_root), opts.n, opts.crop, prepared_dir)
    rows: list[ParityRow] = []
    speed: list[dict] = []
    if "ncnn" not in opts.skip:
        rows += compare_ncnn(opts.model, weights_dir, crops, log)
    if "realesrganer" not in opts.skip:
        rows += compare_realesrganer(opts.model, weights_dir, crops, opts.tile, opts.tile_pad, log)
    if "precision" not in opts.skip:
        sub = [c for ds in P1_DATASETS for c in [c for c in crops if c.dataset == ds][:opts.n_precision]]
        r, speed = compare_precisions(opts.model, weights_dir, sub, opts.precisions, log)
        rows += r
    _, info = load_network(get_spec(opts.model), weights_dir)
    load = load_average(first_only=True)
    header = {"machine": machine_description("cpu"), "torch": torch.__version__, "load": load,
              "threads": torch.get_num_threads(), "cpu_bf16": cpu_bf16_support(),
              "weights": f"{info['file']} ({info.get('source')}, sha256 {info['sha256'][:12]}...)",
              "inputs": ", ".join(f"{c.dataset}/{c.image_id}" for c in crops),
              "options": dataclasses.asdict(opts)}
    return rows, speed, header


def _fmt(r: ParityRow) -> str:
    tol = f"<= {r.limit:g} ({r.quantity})" if r.limit is not None else f"none ({r.quantity})"
    verdict = ("reference" if r.limit is None else ("ok" if r.ok else "OUTSIDE") if r.kind == "parity"
               else ("inside" if r.ok else "outside"))
    return f"| {r.comparison} | {r.case} | {r.value:.3g} | {tol} | {verdict} | {r.detail} |"


def markdown(rows: list[ParityRow], speed: list[dict], header: dict, command: str) -> str:
    """The parity table as Markdown: header facts, every row with its tolerance, speed, verdicts."""
    o = header["options"]
    bf = header["cpu_bf16"]
    lines = [
        "# Parity of the official Real-ESRGAN weights across backends, tiling and precisions", "",
        f"- machine: {header['machine']}; torch {header['torch']}, {header['threads']} thread(s); "
        f"1-min load at the end: {header['load']}",
        f"- bf16 instructions on this CPU: amx_bf16 {bf['amx_bf16']}, avx512_bf16 {bf['avx512_bf16']} "
        f"(avx512f {bf['avx512f']}, avx2 {bf['avx2']})",
        f"- weights: {o['model']}, {header['weights']}",
        f"- inputs: centre {o['crop']}x{o['crop']} LR crops of the first {o['n']} images of P1's "
        f"DRIVE (x2) and ChestX-ray14 (x4) in the protocols' seeded order ({o['n_precision']} per "
        f"dataset in (c)): {header['inputs']}",
        f"- command: `{command}`", "",
        "Tolerances: " + "; ".join(f"**{k}** ({kind}): {q} <= {lim} ({why})"
                                   for k, (q, lim, why, kind) in TOLERANCES.items()),
        "", "Kinds: *parity* rows compare the same computation in two implementations (ok / OUTSIDE: "
        "outside is a defect); *effect* rows measure a setting other than the default (tiling, a "
        "reduced precision) against the default (inside / outside: inside, its rows may stand in "
        "for the default's; outside, they stay a variant of their own).",
        "", "| comparison | case | measured | tolerance | verdict | detail |", "|---|---|---|---|---|---|",
        *[_fmt(r) for r in rows], "",
    ]
    if speed:
        lines += ["## Speed of the reduced precisions (same images, measured alternately in one run)", "",
                  "| precision | s / image | fp32 s / image | speed-up vs fp32 | qualifies (every P1 cell "
                  "inside tolerance) |", "|---|---|---|---|---|"]
        for s in speed:
            ok = all(r.ok for r in rows if r.comparison == f"(c) {s['precision']} vs fp32")
            lines.append(f"| {s['precision']} | {s['s_per_image']:.2f} | {s['fp32_s_per_image']:.2f} | "
                         f"{s['speedup']:.2f}x | {'yes' if ok else 'no'} |")
        lines += ["", "bf16 and bf16-net gain only on CPUs with AMX (`amx_bf16`, Intel Sapphire Rapids and "
                  "newer) or AVX512-BF16 (`avx512_bf16`, Intel Cooper Lake, AMD Zen 4 and newer); "
                  "elsewhere PyTorch emulates bf16 products and they run slower than fp32. fp32 stays "
                  "the default; a qualifying reduced precision is offered as "
                  "`--set model.precision=...` (its rows are their own variant).", ""]
    lines += verdict_lines(rows)
    return "\n".join(lines) + "\n"


def verdict_lines(rows: list[ParityRow]) -> list[str]:
    """The table's closing verdicts: one line for the parity rows (how many are inside their
    tolerance, which comparisons are not), one per effect comparison (how many of its rows are
    inside, and whether its setting may stand in for the default). Reference rows are not
    judged."""
    judged = [r for r in rows if r.limit is not None]
    parity = [r for r in judged if r.kind == "parity"]
    bad = sorted({r.comparison for r in parity if not r.ok})
    out = []
    if parity:
        out.append(f"Parity: {len(parity) - sum(not r.ok for r in parity)} of {len(parity)} rows "
                   "inside their tolerance" + (f"; outside: {'; '.join(bad)}." if bad else "."))
    effects: dict[str, list[ParityRow]] = {}
    for r in judged:
        if r.kind == "effect":
            effects.setdefault(r.comparison, []).append(r)
    for comp, rs in effects.items():
        n_in = sum(r.ok for r in rs)
        out.append(f"Effect of {comp.split(' ', 1)[1]}: {n_in} of {len(rs)} rows inside: "
                   + ("may stand in for the default's rows." if n_in == len(rs) else
                      "does not stand in for the default's rows (its rows are a variant of their "
                      "own; the default is unchanged)."))
    return ["", *(f"- {x}" for x in out)] if out else []

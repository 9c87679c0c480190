"""The training loop of every recipe: G (+ D), losses, EMA, validation, checkpoints, registration.

The steps follow basicsr's ``SRModel`` / ``SRGANModel`` and Real-ESRGAN's ``RealESRGANModel``
``optimize_parameters`` (G step with D frozen: pixel + perceptual + adversarial; then D step on real
and detached fake; then the EMA update), on basicsr's networks and losses (``L1Loss``, ``MSELoss``,
``GANLoss``, ``PerceptualLoss``), ``torch.optim.Adam`` + ``MultiStepLR`` and the EMA of
``torch.optim.swa_utils.AveragedModel`` (``get_ema_multi_avg_fn``).

Run folder (``--out``)::

    recipe.json              the recipe with the overrides, the data, the smoke flag
    log.csv                  one row per iteration: losses, lr; validation rows add PSNR / SSIM
    checkpoints/last.pt      G, D, EMA, optimisers, schedulers, sampler, pair pool, RNG states
    model.pth                the kept generator ({"params", "params_ema"}) when the run finishes

A finished run (or one stopped by ``--max-iters``) copies ``model.pth`` to
``<weights_dir>/trained/<row>.pth`` and writes its record (``models.train.trained``). Checkpoints are
read with ``weights_only=True``: RNG states are stored as tensors and plain lists.
"""

from __future__ import annotations

import csv
import io
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medsr_bench.core import (
    atomic_write_bytes,
    atomic_write_json,
    git_commit,
    resolve_device,
    sha256_file,
)
from medsr_bench.models.registry import WeightsMissing, get_spec
from medsr_bench.models.train import trained
from medsr_bench.models.train.data import PatchSampler, _nchw, load_splits
from medsr_bench.models.train.recipes import PIXEL_LOSSES, Recipe

LOG_COLUMNS = ("iteration", "epoch", "lr_g", "l_pix", "l_percep", "l_g_gan", "l_d_real", "l_d_fake",
               "val_psnr", "val_ssim", "seconds")


class TrainError(Exception):
    """A user-level problem (missing init weights, recipe / checkpoint mismatch). One line."""


@dataclass
class TrainSettings:
    """How a run is executed (not part of the recipe).

    Attributes:
        data_root: datasets folder. dataset: protocol to train on (None: the recipe's).
        out: run folder. weights_dir: where init weights, VGG19 and the trained registry live.
        max_iters: stop after this many iterations (None: the recipe's full length); the model is
            then registered as under-trained.
        resume: continue from ``out/checkpoints/last.pt``.
        device: ``auto`` | ``cpu`` | ``cuda``. amp: ``fp32`` | ``bf16`` (autocast on CUDA).
        channels_last: use the channels_last memory format (CUDA).
        smoke: random VGG19 and random init where the init weights are absent (tests only; the
            checkpoint is marked ``smoke``).
        deviate: allow two recorded departures from the recipe when weights are absent: the
            discriminator starts from random init when ``init_d`` is absent, and the perceptual
            term is dropped when VGG19 is absent (and only then). Each lands in the checkpoint
            record's ``deviations`` (and so in every report row of the model). ``init_g`` absent
            still stops the run. Not a smoke run: the checkpoint is scored.
        limit: at most this many training images (tests, throughput).
        progress: tqdm progress bar. register: write the trained-checkpoint record when done.
    """

    data_root: Path | None = None
    dataset: str | None = None
    out: Path | None = None
    weights_dir: Path | None = None
    max_iters: int | None = None
    resume: bool = False
    device: str = "auto"
    amp: str = "fp32"
    channels_last: bool = False
    smoke: bool = False
    deviate: bool = False
    limit: int | None = None
    progress: bool = True
    register: bool = True


# ----------------------------------------------------------------------------- RNG state
def rng_state() -> dict:
    """python / numpy / torch RNG states as tensors and lists (``weights_only``-loadable)."""
    py = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": [py[0], list(py[1]), py[2]], "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
            "numpy": [name, int(pos), int(has_gauss), float(cached)], "torch": torch.get_rng_state()}


def set_rng_state(d: dict) -> None:
    """Restore :func:`rng_state`."""
    v, keys, gauss = d["python"]
    random.setstate((v, tuple(keys), gauss))
    name, pos, has_gauss, cached = d["numpy"]
    np.random.set_state((name, d["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(d["torch"])


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- metrics
def psnr_ssim(sr: np.ndarray, hr: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and SSIM of float images in [0, 1] (``(H, W, C)``; data_range 1, no crop border),
    by scikit-image (``peak_signal_noise_ratio``, ``structural_similarity`` with ``channel_axis``)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    sr, hr = sr.astype(np.float64), hr.astype(np.float64)
    psnr = peak_signal_noise_ratio(hr, sr, data_range=1.0)
    ssim = structural_similarity(hr, sr, data_range=1.0, channel_axis=2)
    return float(psnr), float(ssim)


# ----------------------------------------------------------------------------- the trainer
class Trainer:
    """One training run of ``recipe`` with ``settings`` (see the module docstring).

    Raises (from the constructor): TrainError (init weights absent, bad settings),
    :class:`~medsr_bench.models.train.vgg.VGGMissing` (perceptual loss without VGG19 weights, not
    smoke), DatasetMissing / DataError (data).
    """

    def __init__(self, recipe: Recipe, settings: TrainSettings):
        from medsr_bench.models.registry import default_weights_dir

        self.recipe = r = recipe
        self.s = settings
        self.wd = Path(settings.weights_dir) if settings.weights_dir else default_weights_dir()
        self.dataset = settings.dataset or r.dataset
        self.row = trained.row_name(r.model_row, r.dataset, self.dataset)
        self.out = Path(settings.out) if settings.out else trained.trained_dir(self.wd) / "runs" / self.row
        self.device = torch.device(resolve_device(settings.device))
        self.notes: list[str] = []
        self.deviations: list[str] = []
        self.spec = get_spec(r.model_row)
        self.scale = self.spec.scale
        seed_all(r.seed)
        # losses first: a missing VGG must stop the recipe before any data is read
        self.cri_percep = None
        if r.needs_vgg:
            from medsr_bench.models.train.vgg import PerceptualLoss, VGGMissing

            try:
                self.cri_percep = PerceptualLoss(r.perceptual_layers, r.perceptual_weight,
                                                 r.perceptual_criterion,
                                                 "smoke" if settings.smoke else self.wd).to(self.device)
            except VGGMissing as e:
                if not settings.deviate:
                    raise
                self.deviations.append(
                    f"perceptual term off (weight {r.perceptual_weight} in the recipe): VGG19 "
                    f"ImageNet weights absent ({e.expected_path}); G trains on pixel + GAN loss only")
        from basicsr.losses.basic_loss import L1Loss, MSELoss
        from basicsr.losses.gan_loss import GANLoss

        self.cri_pix = None
        if r.pixel_loss != "none" and r.pixel_weight > 0:
            cls = {"L1Loss": L1Loss, "MSELoss": MSELoss}[PIXEL_LOSSES[r.pixel_loss]]
            self.cri_pix = cls(loss_weight=r.pixel_weight, reduction="mean").to(self.device)
        self.cri_gan = GANLoss(r.gan_type, 1.0, 0.0, loss_weight=r.gan_weight).to(self.device) \
            if r.gan_weight > 0 else None
        # networks
        self.net_g = self._init_net(self.spec, r.init_g, "G").to(self.device)
        self.net_d = None
        if self.cri_gan is not None:
            self.net_d = self._init_net(get_spec(r.netd_row), r.init_d, "D").to(self.device)
        if settings.channels_last:
            self.net_g = self.net_g.to(memory_format=torch.channels_last)
            if self.net_d is not None:
                self.net_d = self.net_d.to(memory_format=torch.channels_last)
        self.net_g_ema = None
        if r.ema_decay > 0:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.net_g_ema = AveragedModel(self.net_g, multi_avg_fn=get_ema_multi_avg_fn(r.ema_decay),
                                           use_buffers=True)
            self.net_g_ema.update_parameters(self.net_g)  # start equal to G (basicsr model_ema(0))
        self.opt_g = torch.optim.Adam(self.net_g.parameters(), lr=r.lr_g, betas=tuple(r.betas),
                                      weight_decay=r.weight_decay)
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, list(r.milestones), r.gamma)
        self.opt_d = self.sched_d = None
        if self.net_d is not None:
            self.opt_d = torch.optim.Adam(self.net_d.parameters(), lr=r.lr_d, betas=tuple(r.betas),
                                          weight_decay=r.weight_decay)
            self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.opt_d, list(r.milestones), r.gamma)
        # data
        paired = r.data_mode == "paired"
        self.train_set, self.val_set = load_splits(
            self.dataset, settings.data_root, r.split, r.val_split, r.val_count,
            self.spec.in_channels, r.seed, paired, settings.limit)
        crop = r.gt_size
        self.degrader = None
        if not paired:
            from medsr_bench.models.train.degradation import (
                REALESRGAN_DEGRADATION,
                SecondOrderDegradation,
            )

            # Real-ESRGAN degrades a crop_pad_size crop, then crops gt_size; images smaller than
            # crop_pad_size: the largest crop every training image holds
            pad = {**REALESRGAN_DEGRADATION, **r.degradation}["crop_pad_size"]
            smallest = min(min(im.shape[:2]) for im in self.train_set.hr)
            crop = max(r.gt_size, min(pad, smallest - smallest % self.scale))

            self.degrader = SecondOrderDegradation(self.scale, r.gt_size, r.degradation,
                                                   r.pair_pool, r.batch_size, self.device)
            if self.val_set.lr and self.val_set.lr[0] is None:
                self.val_set = self.degrader.fixed_validation(self.val_set, r.seed)
        self.sampler = PatchSampler(self.train_set, r.batch_size, crop, self.scale, r.use_flip,
                                    r.use_rot, r.seed)
        self.total = r.iterations(len(self.train_set))
        self.stop = min(self.total, settings.max_iters) if settings.max_iters else self.total
        self.iters_per_epoch = max(1, -(-len(self.train_set) // r.batch_size))
        self.val_every = r.val_every or (self.iters_per_epoch if r.epochs else self.total)
        self.iteration = 0
        self.best: dict | None = None
        self.best_state: dict | None = None

    # ------------------------------------------------------------------ setup helpers
    def _init_net(self, spec, init: str | None, role: str) -> torch.nn.Module:
        """``spec.arch()`` with the recipe's initial weights (random init, a registry checkpoint or
        ``trained:<row>``). Absent init weights: TrainError, or random init noted in smoke mode."""
        from medsr_bench.models.network import load_network

        if init is None:
            return spec.arch()
        try:
            if init.startswith("trained:"):
                row = init.split(":", 1)[1]
                rec = trained.read_record(self.wd, row)
                if rec is None:
                    raise WeightsMissing(row, trained.record_path(self.wd, row),
                                         f"bench train --recipe for {row} first")
                if rec.get("smoke") and not self.s.smoke:
                    raise TrainError(f"{role} init {init}: the registered checkpoint is a smoke run")
                net, _ = load_network(trained.spec_for_record(get_spec(row), rec), self.wd)
                if spec.arch is not get_spec(row).arch:
                    raise TrainError(f"{role} init {init}: architecture differs from {spec.name}")
                return net
            net, _ = load_network(get_spec(init), self.wd)
            return net
        except WeightsMissing as e:
            if self.s.deviate and role == "D" and not self.s.smoke:
                self.deviations.append(f"D starts from random init: {init} weights absent "
                                       f"({e.expected_path}); the recipe fine-tunes the released D")
                return spec.arch()
            if not self.s.smoke:
                raise TrainError(f"{self.recipe.name}: {role} starts from {init}, whose weights are "
                                 f"absent ({e.expected_path}); get them: {e.obtain}") from None
            self.notes.append(f"smoke: {role} random init ({init} absent)")
            return spec.arch()

    # ------------------------------------------------------------------ one iteration
    def _to(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.device, non_blocking=True)
        return t.contiguous(memory_format=torch.channels_last) if self.s.channels_last else t

    def _d_in(self, x: torch.Tensor) -> torch.Tensor:
        """A discriminator input with explicit strides: a 1-channel conv output counts as both
        layouts, and basicsr's VGGStyleDiscriminator ``view``s its features (fails on channels_last)."""
        fmt = torch.channels_last if self.s.channels_last else torch.contiguous_format
        return x.clone(memory_format=fmt)

    def _autocast(self):
        if self.s.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        import contextlib

        return contextlib.nullcontext()

    def step(self) -> dict:
        """One iteration; returns the logged losses (floats)."""
        r = self.recipe
        gt, lq = self.sampler.next_batch()
        gt = gt.to(self.device)
        if self.degrader is not None:
            gt, gt_usm, lq = self.degrader(gt)
        else:
            lq = lq.to(self.device)
            gt_usm = None
        gt, lq = self._to(gt), self._to(lq)
        pix_gt = gt_usm if (r.usm_gt and gt_usm is not None) else gt
        pix_gt = self._to(pix_gt)
        self.net_g.train()
        logs = {}
        if self.net_d is not None:
            for p in self.net_d.parameters():
                p.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            sr = self.net_g(lq)
            total = sr.new_zeros(())
            if self.cri_pix is not None:
                l_pix = self.cri_pix(sr.float(), pix_gt)
                total = total + l_pix
                logs["l_pix"] = l_pix.item()
            if self.cri_percep is not None:
                l_percep = self.cri_percep(sr.float(), pix_gt)
                total = total + l_percep
                logs["l_percep"] = l_percep.item()
            if self.net_d is not None:
                l_g_gan = self.cri_gan(self.net_d(self._d_in(sr)).float(), True, is_disc=False)
                total = total + l_g_gan
                logs["l_g_gan"] = l_g_gan.item()
        total.backward()
        self.opt_g.step()
        if self.net_d is not None:
            for p in self.net_d.parameters():
                p.requires_grad_(True)
            self.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                l_d_real = self.cri_gan(self.net_d(self._d_in(gt)).float(), True, is_disc=True)
            l_d_real.backward()
            with self._autocast():
                l_d_fake = self.cri_gan(self.net_d(self._d_in(sr.detach())).float(), False,
                                        is_disc=True)
            l_d_fake.backward()
            self.opt_d.step()
            self.sched_d.step()
            logs.update(l_d_real=l_d_real.item(), l_d_fake=l_d_fake.item())
        self.sched_g.step()
        if self.net_g_ema is not None:
            self.net_g_ema.update_parameters(self.net_g)
        self.iteration += 1
        return logs

    # ------------------------------------------------------------------ validation
    def kept_net(self) -> torch.nn.Module:
        """The generator used for validation and export: the EMA one when the recipe has EMA."""
        return self.net_g_ema.module if self.net_g_ema is not None else self.net_g

    @torch.no_grad()
    def validate(self) -> tuple[float, float]:
        """Mean PSNR / SSIM of the kept generator on the validation images (whole images, eval mode;
        nan when there is no validation image)."""
        if not len(self.val_set):
            return float("nan"), float("nan")
        net = self.kept_net()
        was = net.training
        net.eval()
        scores = []
        for hr, lr in zip(self.val_set.hr, self.val_set.lr, strict=True):
            x = _nchw([lr]).to(self.device)
            sr = net(x).float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
            scores.append(psnr_ssim(sr, hr))
        net.train(was)
        return tuple(float(v) for v in np.mean(scores, axis=0))

    def _consider(self, psnr: float, ssim: float) -> None:
        if self.recipe.keep != "ssim-then-psnr" or math.isnan(ssim):
            return
        if self.best is None or (ssim, psnr) > (self.best["val_ssim"], self.best["val_psnr"]):
            self.best = {"iteration": self.iteration, "val_psnr": psnr, "val_ssim": ssim}
            self.best_state = {k: v.detach().clone() for k, v in self.kept_net().state_dict().items()}

    # ------------------------------------------------------------------ checkpoints
    @property
    def ckpt_path(self) -> Path:
        return self.out / "checkpoints" / "last.pt"

    def state_dict(self) -> dict:
        d = {"iteration": self.iteration, "recipe": self.recipe.to_dict(), "dataset": self.dataset,
             "net_g": self.net_g.state_dict(), "opt_g": self.opt_g.state_dict(),
             "sched_g": self.sched_g.state_dict(), "sampler": self.sampler.state_dict(),
             "rng": rng_state(), "best": self.best, "best_state": self.best_state, "notes": self.notes,
             "deviations": self.deviations}
        if self.net_d is not None:
            d.update(net_d=self.net_d.state_dict(), opt_d=self.opt_d.state_dict(),
                     sched_d=self.sched_d.state_dict())
        if self.net_g_ema is not None:
            d["net_g_ema"] = self.net_g_ema.state_dict()
        if self.degrader is not None:
            d["degrader"] = self.degrader.state_dict()
        return d

    def save_checkpoint(self) -> Path:
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        atomic_write_bytes(self.ckpt_path, buf.getvalue())
        return self.ckpt_path

    def load_checkpoint(self) -> None:
        """Restore everything from ``checkpoints/last.pt``. TrainError when absent or when the
        checkpoint's recipe / dataset differ from this run's."""
        if not self.ckpt_path.is_file():
            raise TrainError(f"--resume: no checkpoint at {self.ckpt_path}")
        try:
            d = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated zip, unpickling refused, not a torch file...
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise TrainError(f"--resume: {self.ckpt_path}: unreadable checkpoint ({first}); "
                             "expected a complete checkpoint written by `bench train` (start a "
                             "new --out, or restore the file)") from None
        keys = ("recipe", "dataset", "net_g", "opt_g", "sched_g")
        if not isinstance(d, dict) or any(k not in d for k in keys):
            raise TrainError(f"--resume: {self.ckpt_path}: not a `bench train` checkpoint "
                             f"(expected keys {', '.join(keys)})")
        if d["recipe"] != self.recipe.to_dict() or d["dataset"] != self.dataset:
            raise TrainError(f"--resume: {self.ckpt_path} was written by another recipe, overrides "
                             "or dataset (start a new --out, or use the same --set values)")
        self.net_g.load_state_dict(d["net_g"])
        self.opt_g.load_state_dict(d["opt_g"])
        self.sched_g.load_state_dict(d["sched_g"])
        if self.net_d is not None:
            self.net_d.load_state_dict(d["net_d"])
            self.opt_d.load_state_dict(d["opt_d"])
            self.sched_d.load_state_dict(d["sched_d"])
        if self.net_g_ema is not None:
            self.net_g_ema.load_state_dict(d["net_g_ema"])
        if self.degrader is not None:
            self.degrader.load_state_dict(d["degrader"])
        self.sampler.load_state_dict(d["sampler"])
        set_rng_state(d["rng"])
        self.iteration = int(d["iteration"])
        self.best, self.best_state = d["best"], d["best_state"]
        self.notes = list(d["notes"])
        self.deviations = list(d.get("deviations", self.deviations))

    # ------------------------------------------------------------------ log
    def _log_rows(self) -> list[dict]:
        p = self.out / "log.csv"
        if not p.is_file():
            return []
        with open(p, newline="") as f:
            return [row for row in csv.DictReader(f) if int(row["iteration"]) <= self.iteration]

    def _write_log(self, rows: list[dict]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=LOG_COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        atomic_write_bytes(self.out / "log.csv", buf.getvalue().encode())

    # ------------------------------------------------------------------ run
    def run(self, log=print) -> dict:
        """Train to ``stop`` iterations (resuming when asked), export and register the model.

        Returns the record (see :func:`medsr_bench.models.train.trained`)."""
        from tqdm.auto import tqdm

        self.out.mkdir(parents=True, exist_ok=True)
        if self.s.resume:
            self.load_checkpoint()
        elif self.ckpt_path.is_file():
            raise TrainError(f"{self.out} already holds a run (checkpoints/last.pt); add --resume to "
                             "continue it or choose another --out")
        atomic_write_json(self.out / "recipe.json", {
            "recipe": self.recipe.to_dict(), "sources": self.recipe.sources, "dataset": self.dataset,
            "row": self.row, "smoke": self.s.smoke, "train": self.train_set.source,
            "val": self.val_set.source, "n_train": len(self.train_set), "n_val": len(self.val_set),
            "iterations_recipe": self.total, "stop": self.stop, "device": str(self.device),
            "amp": self.s.amp})
        rows = self._log_rows()
        every = self.recipe.checkpoint_every
        t0 = time.perf_counter()
        bar = tqdm(total=self.stop, initial=self.iteration, desc=f"train {self.row}", unit="it",
                   disable=not self.s.progress, dynamic_ncols=True)
        last_flush = time.perf_counter()
        while self.iteration < self.stop:
            logs = self.step()
            row = {"iteration": self.iteration, "epoch": self.sampler.epoch,
                   "lr_g": self.opt_g.param_groups[0]["lr"], **logs}
            if self.iteration % self.val_every == 0 or self.iteration == self.stop:
                psnr, ssim = self.validate()
                row.update(val_psnr=psnr, val_ssim=ssim)
                self._consider(psnr, ssim)
                bar.set_postfix(val_psnr=f"{psnr:.2f}", val_ssim=f"{ssim:.4f}", refresh=False)
            row["seconds"] = round(time.perf_counter() - t0, 3)
            rows.append(row)
            bar.update(1)
            if "l_pix" in logs:
                bar.set_postfix_str(f"l_pix={logs['l_pix']:.4g}", refresh=False)
            if self.iteration % every == 0 or self.iteration == self.stop:
                self.save_checkpoint()
            if time.perf_counter() - last_flush > 10 or self.iteration == self.stop:
                self._write_log(rows)
                last_flush = time.perf_counter()
        bar.close()
        self._write_log(rows)
        return self.export(log)

    def export(self, log=print) -> dict:
        """Write ``model.pth`` (the kept generator) and, unless disabled, register it."""
        state = self.best_state if self.best_state is not None else \
            {k: v.detach().cpu() for k, v in self.kept_net().state_dict().items()}
        state = {k: v.cpu() for k, v in state.items() if k != "n_averaged"}
        raw = {k: v.detach().cpu() for k, v in self.net_g.state_dict().items()}
        buf = io.BytesIO()
        torch.save({"params": raw, "params_ema": state}, buf)
        model_path = self.out / "model.pth"
        atomic_write_bytes(model_path, buf.getvalue())
        rec = self.make_record(model_path)
        atomic_write_json(self.out / "record.json", rec)
        if self.s.register:
            self.register(model_path, rec, log)
        return rec

    def make_record(self, model_path: Path) -> dict:
        r = self.recipe
        return {
            "version": trained.RECORD_VERSION, "row": self.row, "base_row": r.model_row,
            "file": f"{self.row}.pth", "sha256": sha256_file(model_path), "recipe": r.name,
            "paper": r.paper, "overrides": {k: v for k, v in r.to_dict().items()
                                            if v != _registered(r.name).to_dict()[k]},
            "iterations_done": self.iteration, "iterations_recipe": self.total,
            "epochs_done": round(self.iteration * r.batch_size / len(self.train_set), 3),
            "iterations_recipe_as_registered": _registered(r.name).iterations(len(self.train_set)),
            "under_trained": self.iteration < self.total, "kept": self.best or
            {"iteration": self.iteration, "rule": r.keep},
            "dataset": self.dataset, "data_id": self.train_set.dataset,
            "stand_in_for": self.train_set.stand_in_for, "split": r.split,
            "train": self.train_set.source, "n_train": len(self.train_set),
            "val": self.val_set.source, "n_val": len(self.val_set),
            "smoke": self.s.smoke, "notes": self.notes, "deviations": self.deviations,
            "git_commit": git_commit(),
            "run_dir": str(self.out), "device": str(self.device),
        }

    def register(self, model_path: Path, rec: dict, log=print) -> None:
        """Copy the model into ``<weights_dir>/trained`` and write its record; a smoke run never
        replaces a real registration."""
        old = None
        try:
            old = trained.read_record(self.wd, self.row)
        except ValueError:
            pass
        if rec["smoke"] and old is not None and not old.get("smoke"):
            log(f"note: smoke run not registered: {trained.record_path(self.wd, self.row)} holds a "
                "real checkpoint")
            return
        dest = trained.trained_dir(self.wd) / rec["file"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(model_path, tmp)
        tmp.replace(dest)
        if (self.out / "log.csv").is_file():  # the curves travel with the checkpoint
            rec = {**rec, "log_file": f"{self.row}.log.csv"}
            shutil.copyfile(self.out / "log.csv", trained.trained_dir(self.wd) / rec["log_file"])
        atomic_write_json(trained.record_path(self.wd, self.row), rec)
        log(f"registered {self.row}: {dest} ({trained.label(rec)})")


def _registered(name: str) -> Recipe:
    from medsr_bench.models.train.recipes import get_recipe

    return get_recipe(name)


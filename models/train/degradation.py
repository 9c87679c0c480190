"""Real-ESRGAN's online second-order degradation (Wang et al., ICCVW 2021, sec. 3), for fine-tuning.

The same steps and default settings as Real-ESRGAN's ``RealESRGANDataset`` (kernels) and
``RealESRGANModel.feed_data`` (blur, random resize, Gaussian / Poisson noise, JPEG, twice; then the
final sinc filter and JPEG in random order; the training pair pool), built on basicsr's functions:
``random_mixed_kernels``, ``circular_lowpass_kernel``, ``random_add_gaussian_noise_pt``,
``random_add_poisson_noise_pt``, ``filter2D``, ``DiffJPEG``, ``USMSharp``, ``paired_random_crop``.

What medical data needs on top: 1-channel images go through ``DiffJPEG`` (a YCbCr codec) replicated
to 3 channels and are averaged back; inputs are float [0, 1] whatever their bit depth (the final
``round(x * 255) / 255`` of Real-ESRGAN is kept: the LR it simulates is an 8-bit image).

Randomness: python ``random`` / numpy global RNG (kernels, choices; as Real-ESRGAN) and torch's
global RNG (noise, JPEG quality, pool shuffles); all are part of the trainer's checkpoint.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from torch.nn import functional as F

#: Real-ESRGAN options/train_realesrgan_x4plus.yml and finetune_realesrgan_x4plus.yml (identical
#: degradation blocks); keys are the option names of those files.
REALESRGAN_DEGRADATION = {
    "crop_pad_size": 400,  # RealESRGANDataset: GT crop (padded when smaller) before degrading
    "blur_kernel_size": 21, "kernel_list": ["iso", "aniso", "generalized_iso", "generalized_aniso",
                                            "plateau_iso", "plateau_aniso"],
    "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03], "sinc_prob": 0.1, "blur_sigma": [0.2, 3],
    "betag_range": [0.5, 4], "betap_range": [1, 2],
    "kernel_list2": ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso",
                     "plateau_aniso"],
    "kernel_prob2": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03], "sinc_prob2": 0.1,
    "blur_sigma2": [0.2, 1.5], "betag_range2": [0.5, 4], "betap_range2": [1, 2],
    "final_sinc_prob": 0.8,
    "resize_prob": [0.2, 0.7, 0.1], "resize_range": [0.15, 1.5], "gaussian_noise_prob": 0.5,
    "noise_range": [1, 30], "poisson_scale_range": [0.05, 3], "gray_noise_prob": 0.4,
    "jpeg_range": [30, 95],
    "second_blur_prob": 0.8, "resize_prob2": [0.3, 0.4, 0.3], "resize_range2": [0.3, 1.2],
    "gaussian_noise_prob2": 0.5, "noise_range2": [1, 25], "poisson_scale_range2": [0.05, 2.5],
    "gray_noise_prob2": 0.4, "jpeg_range2": [30, 95],
}
KERNEL_RANGE = [2 * v + 1 for v in range(3, 11)]  # 7 .. 21, as RealESRGANDataset
MODES = ["area", "bilinear", "bicubic"]


def _blur_kernel(o: dict, suffix: str) -> np.ndarray:
    """One 21x21 blur kernel (sinc or mixed Gaussian family), as RealESRGANDataset draws it."""
    from basicsr.data.degradations import circular_lowpass_kernel, random_mixed_kernels

    size = random.choice(KERNEL_RANGE)
    if np.random.uniform() < o[f"sinc_prob{suffix}"]:
        omega_c = np.random.uniform(np.pi / 3 if size < 13 else np.pi / 5, np.pi)
        k = circular_lowpass_kernel(omega_c, size, pad_to=False)
    else:
        sigma = o[f"blur_sigma{suffix}"]
        k = random_mixed_kernels(o[f"kernel_list{suffix}"], o[f"kernel_prob{suffix}"], size, sigma,
                                 sigma, [-math.pi, math.pi], o[f"betag_range{suffix}"],
                                 o[f"betap_range{suffix}"], noise_range=None)
    pad = (21 - size) // 2
    return np.pad(k, ((pad, pad), (pad, pad)))


def _sinc_kernel(o: dict) -> np.ndarray:
    from basicsr.data.degradations import circular_lowpass_kernel

    if np.random.uniform() < o["final_sinc_prob"]:
        size = random.choice(KERNEL_RANGE)
        return circular_lowpass_kernel(np.random.uniform(np.pi / 3, np.pi), size, pad_to=21)
    pulse = np.zeros((21, 21), np.float32)
    pulse[10, 10] = 1
    return pulse


class SecondOrderDegradation:
    """``gt (B, C, H, W)`` in [0, 1] -> ``(gt, gt_usm, lq)`` cropped to ``gt_size`` (lq at
    ``gt_size / scale``), after the training pair pool.

    Args:
        scale: SR factor. gt_size: HR crop after degradation (0: no crop).
        overrides: keys of :data:`REALESRGAN_DEGRADATION` to change.
        pool_size: Real-ESRGAN's ``queue_size`` (0 = no pool; a multiple of ``batch_size``).
        batch_size: the trainer's batch. device: where the degradation runs.

    Raises:
        ValueError: an unknown override key or a pool size that is not a multiple of the batch.
    """

    def __init__(self, scale: int, gt_size: int, overrides: dict, pool_size: int, batch_size: int,
                 device: torch.device):
        from basicsr.utils import DiffJPEG, USMSharp

        unknown = set(overrides) - set(REALESRGAN_DEGRADATION)
        if unknown:
            raise ValueError(f"unknown degradation settings {sorted(unknown)}")
        if pool_size and pool_size % batch_size:
            raise ValueError(f"pair_pool {pool_size} must be a multiple of batch_size {batch_size}")
        self.o = {**REALESRGAN_DEGRADATION, **overrides}
        self.scale, self.gt_size, self.pool_size, self.device = scale, gt_size, pool_size, device
        self.jpeger = DiffJPEG(differentiable=False).to(device)
        self.usm = USMSharp().to(device)
        self.pool: dict | None = None

    def _jpeg(self, x: torch.Tensor, rng: list) -> torch.Tensor:
        q = x.new_zeros(x.size(0)).uniform_(*rng)
        x = torch.clamp(x, 0, 1)
        if x.shape[1] == 1:  # DiffJPEG is a YCbCr codec: replicate, compress, average back
            x = self.jpeger(x.expand(-1, 3, -1, -1).contiguous(), quality=q).mean(1, keepdim=True)
            return x.contiguous()
        return self.jpeger(x, quality=q).contiguous()

    def _noise(self, x: torch.Tensor, suffix: str) -> torch.Tensor:
        from basicsr.data.degradations import (
            random_add_gaussian_noise_pt,
            random_add_poisson_noise_pt,
        )

        o = self.o
        gray = o[f"gray_noise_prob{suffix}"]
        if np.random.uniform() < o[f"gaussian_noise_prob{suffix}"]:
            return random_add_gaussian_noise_pt(x, sigma_range=o[f"noise_range{suffix}"], clip=True,
                                                rounds=False, gray_prob=gray)
        return random_add_poisson_noise_pt(x, scale_range=o[f"poisson_scale_range{suffix}"],
                                           gray_prob=gray, clip=True, rounds=False)

    def _resize(self, x: torch.Tensor, probs: list, rng: list, size=None) -> torch.Tensor:
        kind = random.choices(["up", "down", "keep"], probs)[0]
        s = np.random.uniform(1, rng[1]) if kind == "up" else \
            np.random.uniform(rng[0], 1) if kind == "down" else 1
        mode = random.choice(MODES)
        if size is None:
            return F.interpolate(x, scale_factor=s, mode=mode)
        return F.interpolate(x, size=(int(size[0] * s), int(size[1] * s)), mode=mode)

    @torch.no_grad()
    def degrade(self, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gt_usm, lq)`` of the whole ``gt`` batch (no crop, no pool)."""
        from basicsr.utils.img_process_util import filter2D

        o, b = self.o, gt.size(0)
        k1 = torch.stack([torch.as_tensor(_blur_kernel(o, ""), dtype=torch.float32) for _ in range(b)])
        k2 = torch.stack([torch.as_tensor(_blur_kernel(o, "2"), dtype=torch.float32) for _ in range(b)])
        ks = torch.stack([torch.as_tensor(_sinc_kernel(o), dtype=torch.float32) for _ in range(b)])
        k1, k2, ks = k1.to(gt.device), k2.to(gt.device), ks.to(gt.device)
        gt_usm = self.usm(gt)
        h, w = gt.shape[2:]
        out = filter2D(gt_usm, k1)
        out = self._resize(out, o["resize_prob"], o["resize_range"])
        out = self._jpeg(self._noise(out, ""), o["jpeg_range"])
        if np.random.uniform() < o["second_blur_prob"]:
            out = filter2D(out, k2)
        out = self._resize(out, o["resize_prob2"], o["resize_range2"],
                           (h / self.scale, w / self.scale))
        out = self._noise(out, "2")
        final = (h // self.scale, w // self.scale)
        if np.random.uniform() < 0.5:
            out = filter2D(F.interpolate(out, size=final, mode=random.choice(MODES)), ks)
            out = self._jpeg(out, o["jpeg_range2"])
        else:
            out = self._jpeg(out, o["jpeg_range2"])
            out = filter2D(F.interpolate(out, size=final, mode=random.choice(MODES)), ks)
        lq = torch.clamp((out * 255.0).round(), 0, 255) / 255.0
        return gt_usm, lq

    @torch.no_grad()
    def __call__(self, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from basicsr.data.transforms import paired_random_crop

        gt = gt.to(self.device)
        gt_usm, lq = self.degrade(gt)
        if self.gt_size:
            (gt, gt_usm), lq = paired_random_crop([gt, gt_usm], lq, self.gt_size, self.scale)
        gt, lq = self._pool(gt, lq)
        return gt, self.usm(gt), lq.contiguous()

    def _pool(self, gt: torch.Tensor, lq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real-ESRGAN's training pair pool (``_dequeue_and_enqueue``): fill it first; then shuffle
        it, swap the batch in, and take the first ``B`` pairs out."""
        if not self.pool_size:
            return gt, lq
        b = gt.size(0)
        if self.pool is None:
            self.pool = {"gt": gt.new_zeros(self.pool_size, *gt.shape[1:]),
                         "lq": lq.new_zeros(self.pool_size, *lq.shape[1:]), "n": 0}
        p = self.pool
        if p["n"] < self.pool_size:
            p["gt"][p["n"]:p["n"] + b] = gt
            p["lq"][p["n"]:p["n"] + b] = lq
            p["n"] += b
            return gt, lq
        idx = torch.randperm(self.pool_size)
        p["gt"], p["lq"] = p["gt"][idx], p["lq"][idx]
        out_gt, out_lq = p["gt"][:b].clone(), p["lq"][:b].clone()
        p["gt"][:b], p["lq"][:b] = gt, lq
        return out_gt, out_lq

    def fixed_validation(self, images, seed: int):
        """The validation set with one fixed degradation per image (seeded; the global RNG states
        are restored afterwards), whole images: an :class:`~.data.ImageSet` with ``lr`` filled."""
        from medsr_bench.models.train.data import ImageSet, _nchw

        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            lrs, hrs = [], []
            for hr in images.hr:
                h, w = (d - d % self.scale for d in hr.shape[:2])
                hr = np.ascontiguousarray(hr[:h, :w])
                x = _nchw([hr]).to(self.device)
                _, lq = self.degrade(x)
                lrs.append(lq[0].permute(1, 2, 0).cpu().numpy())
                hrs.append(hr)
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])
        return ImageSet(hrs, lrs, images.ids, images.dataset, images.stand_in_for,
                        images.source + ", LR by one seeded Real-ESRGAN degradation per image")

    def state_dict(self) -> dict:
        if self.pool is None:
            return {}
        return {"gt": self.pool["gt"].cpu(), "lq": self.pool["lq"].cpu(), "n": self.pool["n"]}

    def load_state_dict(self, d: dict) -> None:
        self.pool = None if not d else {"gt": d["gt"].to(self.device), "lq": d["lq"].to(self.device),
                                        "n": int(d["n"])}

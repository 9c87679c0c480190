"""Training and validation images from the data_prep protocols, and the random patch sampler.

The protocol's own split is used (``brats2018`` train = 80 % of the volumes, ``cptac-gbm`` train /
val, ``stare`` / ``shenzhen`` train); images are held in memory as float32 in [0, 1] (16-bit and
float data are kept as they are, never rounded to 8 bit). 1-channel networks take grayscale images;
3-channel networks take RGB, a grayscale image is replicated to 3 channels.

Patches: basicsr's ``paired_random_crop`` (aligned HR/LR crops, python ``random``); flips and
90-degree rotations with numpy (basicsr's ``augment`` uses ``cv2.flip``, which drops the channel axis
of 1-channel images). Batches walk a seeded permutation of the training images (one epoch = one
pass); the sampler's position is part of the checkpoint so that ``--resume`` continues exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from medsr_bench.data_prep import get_protocol
from medsr_bench.data_prep.splits import seeded_sample


@dataclass
class ImageSet:
    """Images of one split.

    Attributes:
        hr: list of float32 ``(H, W, C)`` arrays in [0, 1].
        lr: list of float32 ``(H/scale, W/scale, C)`` arrays (the protocol's LR), or Nones when
            the LR is made online (Real-ESRGAN degradation).
        ids: image ids (``<case>_z<slice>``, file stems).
        dataset: dataset id written by the protocol (``brats2018``, ``ct-head-standin``...).
        stand_in_for: the dataset a stand-in replaces, or None.
        source: where the images come from (split, protocol, held-out rule), one line.
    """

    hr: list
    lr: list
    ids: list
    dataset: str
    stand_in_for: str | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.hr)


def _hwc(a: np.ndarray, channels: int) -> np.ndarray:
    a = a[..., None] if a.ndim == 2 else a
    if a.shape[2] == channels:
        return np.ascontiguousarray(a, dtype=np.float32)
    if channels == 3 and a.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(a, 3, axis=2), dtype=np.float32)
    raise ValueError(f"a {channels}-channel network cannot train on {a.shape[2]}-channel images "
                     "(pick a grayscale protocol or a 3-channel recipe)")


def load_splits(protocol: str, data_root: Path | None, split: str, val_split: str | None,
                val_count: int, channels: int, seed: int, paired: bool,
                limit: int | None = None) -> tuple[ImageSet, ImageSet]:
    """``(train, val)`` image sets of ``protocol``.

    Args:
        protocol: data_prep protocol name; split: its training split.
        val_split: the protocol's validation split when it has one; otherwise ``val_count`` images
            of the training split are held out (seeded by ``seed``) and never trained on.
        channels: the network's channels (1 or 3). paired: keep the protocol's LR.
        limit: at most this many training images (seeded choice by the protocol; tests).

    Raises:
        DatasetMissing / DataError from the protocol; ValueError for channel mismatches or an
        empty training set.
    """

    proto = get_protocol(protocol)

    def read(which: str, lim: int | None) -> ImageSet:
        hr, lr, ids, ds, sif = [], [], [], protocol, None
        for s in proto.samples(data_root, which, lim):
            hr.append(_hwc(s.hr, channels))
            lr.append(_hwc(s.lr, channels) if paired else None)
            ids.append(s.meta.image_id)
            ds, sif = s.meta.dataset, s.meta.stand_in_for
        return ImageSet(hr, lr, ids, ds, sif, f"{protocol} {which} split")

    train = read(split, limit)
    if val_split is not None and val_split in proto.splits:
        val = read(val_split, val_count or None)
    else:
        n_val = min(val_count, max(len(train) // 5, 1)) if len(train) > 1 else 0
        held = set(seeded_sample(train.ids, n_val, seed + 7)) if n_val else set()
        keep = [i for i, k in enumerate(train.ids) if k not in held]
        out = [i for i, k in enumerate(train.ids) if k in held]
        val = ImageSet([train.hr[i] for i in out], [train.lr[i] for i in out],
                       [train.ids[i] for i in out], train.dataset, train.stand_in_for,
                       f"{protocol} {split} split, {len(out)} images held out (seed {seed + 7})")
        train = ImageSet([train.hr[i] for i in keep], [train.lr[i] for i in keep],
                         [train.ids[i] for i in keep], train.dataset, train.stand_in_for,
                         f"{protocol} {split} split minus the {len(out)} held-out images")
    if not len(train):
        raise ValueError(f"{protocol}: the {split} split has no images to train on")
    return train, val


def _flip_rot(arrs: list[np.ndarray], hflip: bool, rot: bool) -> list[np.ndarray]:
    """The same random h-flip / v-flip / transpose on every ``(H, W, C)`` array (python ``random``,
    the draws basicsr's ``augment`` makes)."""
    h = hflip and random.random() < 0.5
    v = rot and random.random() < 0.5
    t = rot and random.random() < 0.5
    out = []
    for a in arrs:
        if h:
            a = a[:, ::-1]
        if v:
            a = a[::-1]
        if t:
            a = a.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(a))
    return out


def _nchw(arrs: list[np.ndarray]) -> torch.Tensor:
    """(H, W, C) arrays -> a standard-strided (B, C, H, W) tensor (a permuted view with C = 1 would
    count as channels_last and make convolutions return channels_last outputs)."""
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrs).transpose(0, 3, 1, 2)))


@dataclass
class PatchSampler:
    """Batches of random patches from an :class:`ImageSet`.

    ``next_batch()`` -> ``(gt, lq)``: float32 tensors ``(B, C, gt, gt)`` and ``(B, C, gt/s, gt/s)``
    (``lq`` is None for HR-only sets). ``gt_size`` 0 takes whole images (equal sizes needed).
    The state (permutation, position, epoch) is saved / restored with :meth:`state_dict`.
    """

    images: ImageSet
    batch_size: int
    gt_size: int
    scale: int
    hflip: bool = True
    rot: bool = True
    seed: int = 0
    perm: list = field(default_factory=list)
    pos: int = 0
    epoch: int = 0

    def _index(self) -> int:
        if self.pos >= len(self.perm):
            rng = np.random.default_rng(self.seed + self.epoch)
            self.perm = rng.permutation(len(self.images)).tolist()
            self.pos = 0
            self.epoch += 1
        i = self.perm[self.pos]
        self.pos += 1
        return i

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        from basicsr.data.transforms import paired_random_crop

        gts, lqs = [], []
        for _ in range(self.batch_size):
            i = self._index()
            gt, lq = self.images.hr[i], self.images.lr[i]
            if self.gt_size:
                if min(gt.shape[:2]) < self.gt_size:
                    raise ValueError(f"{self.images.ids[i]}: image {gt.shape[:2]} smaller than "
                                     f"gt_size {self.gt_size}")
                if lq is None:
                    top = random.randint(0, gt.shape[0] - self.gt_size)
                    left = random.randint(0, gt.shape[1] - self.gt_size)
                    gt = gt[top:top + self.gt_size, left:left + self.gt_size]
                else:
                    gt, lq = paired_random_crop(gt, lq, self.gt_size, self.scale, self.images.ids[i])
            arrs = _flip_rot([gt] if lq is None else [gt, lq], self.hflip, self.rot)
            gts.append(arrs[0])
            lqs.append(arrs[1] if lq is not None else None)
        return _nchw(gts), None if lqs[0] is None else _nchw(lqs)

    def state_dict(self) -> dict:
        return {"perm": torch.tensor(self.perm, dtype=torch.int64), "pos": self.pos, "epoch": self.epoch}

    def load_state_dict(self, d: dict) -> None:
        self.perm = [int(x) for x in d["perm"].tolist()]
        self.pos = int(d["pos"])
        self.epoch = int(d["epoch"])

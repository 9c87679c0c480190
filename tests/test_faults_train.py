"""A truncated or foreign training checkpoint on ``--resume`` is one TrainError line, not a
traceback from torch's unpickler."""

from __future__ import annotations

import pytest
import torch
from test_train import settings, tiny

from medsr_bench.models.train.trainer import Trainer, TrainError


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_damaged_checkpoint_on_resume(shared_data, tmp_path, damage):
    r = tiny("beallor-srresnet")
    Trainer(r, settings(shared_data, tmp_path, limit=2, register=False)).run(log=lambda *_: None)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    if not ckpt.is_file():
        ckpt = next(tmp_path.rglob("last.pt"))
    if damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
        match = "unreadable checkpoint"
    else:
        torch.save({"weights": torch.zeros(2)}, ckpt)
        match = "not a `bench train` checkpoint"
    with pytest.raises(TrainError, match=match) as e:
        Trainer(r, settings(shared_data, tmp_path, limit=2, resume=True, max_iters=3)).run()
    assert "\n" not in str(e.value) and str(ckpt) in str(e.value)

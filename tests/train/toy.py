"""A tiny classification model and deterministic data for the trainer tests.

Imported by the tests (by path) and run as a script for the subprocess tests (kill, SIGTERM, torchrun):

    python tests/train/toy.py OUT_DIR [--max-epochs 3] [--sleep 0.02] ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from legokit.train import OptimConfig, TrainConfig, distributed_info, fit

DIM, CLASSES, NUM_ITEMS = 4, 3, 64


class ToyModel(nn.Module):
    """x (B, DIM) -> logits (B, CLASSES); returns summed CE, the item count and the correct count."""

    def __init__(self, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(DIM, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, CLASSES))

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        logits = self.net(batch["x"])
        y = batch["y"]
        return {"loss": F.cross_entropy(logits, y, reduction="sum"),
                "weight": torch.tensor(float(y.numel()), device=y.device),
                "acc": (logits.argmax(-1) == y).sum().float()}


def dataset() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(NUM_ITEMS, DIM, generator=g)
    y = (x @ torch.randn(DIM, CLASSES, generator=g)).argmax(-1)
    return x, y


def make_batches(batch_size: int = 8, seed: int = 1, sleep: float = 0.0,
                 fail_at: tuple[int, int] | None = None):
    """train_batches(epoch): a (seed, epoch)-seeded shuffle in global batches of `batch_size`, of which
    rank r of w takes rows r::w. fail_at=(epoch, i) raises before yielding batch i of that epoch."""
    x, y = dataset()

    def train_batches(epoch: int) -> Iterator[dict]:
        rank, world = distributed_info()
        order = torch.randperm(NUM_ITEMS, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        for i, start in enumerate(range(0, NUM_ITEMS, batch_size)):
            if fail_at == (epoch, i):
                raise RuntimeError("simulated crash")
            idx = order[start:start + batch_size][rank::world]
            time.sleep(sleep)
            yield {"ids": [str(int(j)) for j in idx], "x": x[idx], "y": y[idx],
                   "y_lengths": torch.ones(len(idx), dtype=torch.long)}

    return train_batches


def valid_batches() -> Iterator[dict]:
    x, y = dataset()
    rank, world = distributed_info()
    yield {"ids": [], "x": x[:32][rank::world], "y": y[:32][rank::world]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--save-interval", type=int, default=None)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = ToyModel(args.dropout)
    result = fit(model, make_batches(args.batch_size, sleep=args.sleep), valid_batches,
                 OptimConfig(lr=0.01, warmup_steps=2, clip_grad_norm=5.0),
                 TrainConfig(max_epochs=args.max_epochs, log_interval=2, num_threads=1,
                             save_interval_steps=args.save_interval, keep_last_checkpoints=0),
                 args.out_dir)
    print(json.dumps({"reason": result.reason, "step": result.step}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

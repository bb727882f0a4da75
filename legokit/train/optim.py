"""Optimiser and learning-rate schedule from an `OptimConfig` (formulas in its docstring)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from legokit.errors import LegokitError
from legokit.train.config import OptimConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over the parameters that require gradients (the fused kernel: one call per step
    instead of a loop over parameters, ~14% of a small training step on CPU)."""
    params = [p for p in params if p.requires_grad]
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    fused = all(p.is_floating_point() for p in params)
    return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay, fused=fused)


def lr_factor(cfg: OptimConfig, max_steps: int | None = None) -> Callable[[int], float]:
    """The multiplier of `cfg.lr` at update s (1-based) for the configured schedule."""
    w = cfg.warmup_steps
    if cfg.scheduler == "constant":
        return lambda s: min(1.0, s / w) if w > 0 else 1.0
    if cfg.scheduler == "inverse_sqrt":
        return lambda s: min(s / w, math.sqrt(w / s)) if w > 0 else 1.0 / math.sqrt(s)
    if cfg.scheduler == "noam":
        w = max(w, 1)
        return lambda s: cfg.model_dim ** -0.5 * min(s ** -0.5, s * w ** -1.5)
    total = cfg.total_steps or max_steps
    if total is None or total <= w:
        raise LegokitError("OptimConfig.scheduler=warmup_cosine needs OptimConfig.total_steps (or "
                           f"TrainConfig.max_steps) larger than warmup_steps={w}; got {total}")
    floor = cfg.min_lr / cfg.lr

    def cosine(s: int) -> float:
        if s < w:
            return s / w
        progress = min(1.0, (s - w) / (total - w))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return cosine


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig,
                    max_steps: int | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-update scheduler: call `.step()` after each optimiser step; the first update uses s = 1."""
    factor = lr_factor(cfg, max_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda last: factor(last + 1))

import math

import pytest
import torch

from legokit.errors import LegokitError
from legokit.train import OptimConfig
from legokit.train.optim import build_optimizer, build_scheduler, lr_factor


def _lrs(cfg: OptimConfig, steps: int, max_steps: int | None = None) -> list[float]:
    """Learning rate used by updates 1..steps, read from a real optimiser + scheduler."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([param], cfg)
    sched = build_scheduler(opt, cfg, max_steps)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_noam_matches_espnet_formula_and_peaks_at_warmup():
    cfg = OptimConfig(scheduler="noam", lr=2.0, warmup_steps=4, model_dim=16)
    lrs = _lrs(cfg, 10)
    expected = [2.0 * 16 ** -0.5 * min(s ** -0.5, s * 4 ** -1.5) for s in range(1, 11)]
    assert lrs == pytest.approx(expected)
    assert max(lrs) == pytest.approx(2.0 * (16 * 4) ** -0.5)
    assert lrs.index(max(lrs)) == 3  # update 4 = warmup_steps


def test_inverse_sqrt_is_linear_then_decays_like_fairseq():
    lrs = _lrs(OptimConfig(scheduler="inverse_sqrt", lr=1e-3, warmup_steps=4), 16)
    assert lrs[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert lrs[15] == pytest.approx(1e-3 * math.sqrt(4 / 16))


def test_constant_with_and_without_warmup():
    assert _lrs(OptimConfig(scheduler="constant", lr=0.1, warmup_steps=0), 3) == pytest.approx([0.1] * 3)
    assert _lrs(OptimConfig(scheduler="constant", lr=0.1, warmup_steps=2), 3) == pytest.approx([0.05, 0.1, 0.1])


def test_warmup_cosine_reaches_min_lr():
    cfg = OptimConfig(scheduler="warmup_cosine", lr=1.0, min_lr=0.1, warmup_steps=2, total_steps=6)
    lrs = _lrs(cfg, 8)
    assert lrs[:2] == pytest.approx([0.5, 1.0])
    assert lrs[3] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lrs[5:] == pytest.approx([0.1] * 3)


def test_warmup_cosine_takes_length_from_max_steps_or_fails():
    cfg = OptimConfig(scheduler="warmup_cosine", warmup_steps=2)
    assert lr_factor(cfg, max_steps=10)(10) == pytest.approx(0.0)
    with pytest.raises(LegokitError, match="total_steps"):
        lr_factor(cfg)


def test_adamw_decouples_weight_decay_and_skips_frozen_params():
    frozen = torch.nn.Parameter(torch.ones(1), requires_grad=False)
    trained = torch.nn.Parameter(torch.ones(1))
    opt = build_optimizer([frozen, trained], OptimConfig(optimizer="adamw", weight_decay=0.1))
    assert isinstance(opt, torch.optim.AdamW)
    assert [p for g in opt.param_groups for p in g["params"]] == [trained]
    assert opt.param_groups[0]["betas"] == (0.9, 0.98)

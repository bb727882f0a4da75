"""Losses against hand computation, PyTorch references and analytic gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from legokit.errors import LegokitError
from legokit.losses import (
    LossConfig,
    anti_focal_loss,
    ctc_loss,
    focal_loss,
    label_smoothed_anti_focal_loss,
    label_smoothed_ce,
    sequence_loss,
)

PROBS = torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3]])
LOGITS = PROBS.log()
TARGET = torch.tensor([0, 2])


def _random(n: int = 6, v: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(n, v, dtype=torch.float64), torch.randint(0, v, (n,))


def test_anti_focal_by_hand():
    expected = (1 + 0.5 * 0.5) * -math.log(0.5) + (1 + 0.5 * 0.3) * -math.log(0.3)
    assert anti_focal_loss(LOGITS, TARGET).item() == pytest.approx(expected, rel=1e-6)
    squared = (1 + 0.5) ** 2 * -math.log(0.5) + (1 + 0.3) ** 2 * -math.log(0.3)
    assert anti_focal_loss(LOGITS, TARGET, gamma=2, alpha=1).item() == pytest.approx(squared, rel=1e-6)


def test_focal_by_hand():
    expected = 0.5**2 * -math.log(0.5) + 0.7**2 * -math.log(0.3)
    assert focal_loss(LOGITS, TARGET, gamma=2).item() == pytest.approx(expected, rel=1e-6)


def test_label_smoothed_ce_by_hand():
    eps = 0.1
    row0 = (1 - eps) * -math.log(0.5) + eps / 3 * -(math.log(0.5) + 2 * math.log(0.25))
    row1 = (1 - eps) * -math.log(0.3) + eps / 3 * -(math.log(0.1) + math.log(0.6) + math.log(0.3))
    out = label_smoothed_ce(LOGITS, TARGET, epsilon=eps, reduction="none")
    torch.testing.assert_close(out, torch.tensor([row0, row1]))


def test_label_smoothed_anti_focal_by_hand():
    eps, gamma = 0.1, 1.0
    w = (1 + PROBS[0]) ** gamma
    row0 = (1 - eps) * w[0] * -math.log(0.5) - eps / 3 * (w * PROBS[0].log()).sum()
    out = label_smoothed_anti_focal_loss(LOGITS[:1], TARGET[:1], epsilon=eps, gamma=gamma)
    assert out.item() == pytest.approx(row0.item(), rel=1e-6)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_gamma_zero_is_cross_entropy(eps):
    logits, target = _random()
    ref = F.cross_entropy(logits, target, reduction="sum", label_smoothing=eps)
    torch.testing.assert_close(label_smoothed_ce(logits, target, eps).double(), ref)
    torch.testing.assert_close(label_smoothed_anti_focal_loss(logits, target, eps, gamma=0).double(), ref)
    if eps == 0.0:
        torch.testing.assert_close(anti_focal_loss(logits, target, gamma=0).double(), ref)
        torch.testing.assert_close(focal_loss(logits, target, gamma=0).double(), ref)


def test_epsilon_zero_is_unsmoothed():
    logits, target = _random()
    torch.testing.assert_close(label_smoothed_anti_focal_loss(logits, target, 0.0, gamma=2, alpha=0.5),
                               anti_focal_loss(logits, target, gamma=2, alpha=0.5))


def test_ignore_index_and_reductions():
    logits, target = _random(n=4)
    padded = target.clone()
    padded[[1, 3]] = -100
    none = anti_focal_loss(logits, padded, reduction="none")
    assert none.shape == (4,) and none[1] == 0 and none[3] == 0
    kept = anti_focal_loss(logits[[0, 2]], target[[0, 2]], reduction="none")
    torch.testing.assert_close(none[[0, 2]], kept)
    torch.testing.assert_close(anti_focal_loss(logits, padded, reduction="mean"), kept.mean())
    smoothed = label_smoothed_ce(logits, padded, 0.2, reduction="mean")
    torch.testing.assert_close(smoothed.double(),
                               F.cross_entropy(logits, padded, reduction="mean", label_smoothing=0.2))
    with pytest.raises(ValueError):
        anti_focal_loss(logits, target, reduction="max")


def test_weights_carry_no_gradient():
    """Autograd gradient equals the analytic one with the weights held constant."""
    logits, target = _random()
    eps, gamma, alpha = 0.1, 2.0, 0.5
    logits.requires_grad_(True)
    label_smoothed_anti_focal_loss(logits, target, eps, gamma=gamma, alpha=alpha).backward()
    p = logits.detach().softmax(-1)
    w = (1 + alpha * p) ** gamma  # (N, V)
    onehot = F.one_hot(target, p.size(-1)).double()
    w_t = (w * onehot).sum(-1, keepdim=True)
    # d(-log p_c)/dz = p - e_c, so grad = Σ_c coef_c (p - e_c) with coef = (1-ε) w_t e_t + ε/V w
    coef = (1 - eps) * w_t * onehot + eps / p.size(-1) * w
    expected = coef.sum(-1, keepdim=True) * p - coef
    torch.testing.assert_close(logits.grad, expected)


def test_focal_gradient_analytic():
    logits, target = _random()
    logits.requires_grad_(True)
    focal_loss(logits, target, gamma=2.0).backward()
    p = logits.detach().softmax(-1)
    onehot = F.one_hot(target, p.size(-1)).double()
    w_t = (1 - (p * onehot).sum(-1, keepdim=True)) ** 2
    torch.testing.assert_close(logits.grad, w_t * (p - onehot))


def test_ctc_by_hand_and_against_torch():
    probs = torch.tensor([[[0.6, 0.4], [0.3, 0.7]]])  # (B=1, T=2, V=2), blank 0
    target = torch.tensor([[1]])
    # alignments of "1" in 2 frames: (1,1), (0,1), (1,0)
    expected = -math.log(0.4 * 0.7 + 0.6 * 0.7 + 0.4 * 0.3)
    out = ctc_loss(probs.log(), torch.tensor([2]), target, torch.tensor([1]), blank=0)
    assert out.item() == pytest.approx(expected, rel=1e-6)

    log_probs = torch.randn(3, 8, 5).log_softmax(-1)
    targets = torch.tensor([[1, 2, 0], [3, 3, 4], [2, 0, 0]])
    in_lens, tgt_lens = torch.tensor([8, 6, 3]), torch.tensor([2, 3, 1])
    ref = F.ctc_loss(log_probs.transpose(0, 1), targets, in_lens, tgt_lens, reduction="none")
    torch.testing.assert_close(ctc_loss(log_probs, in_lens, targets, tgt_lens, blank=0, reduction="none"), ref)


def test_ctc_impossible_alignment_is_zero():
    log_probs = torch.randn(1, 2, 5).log_softmax(-1).requires_grad_(True)
    loss = ctc_loss(log_probs, torch.tensor([2]), torch.tensor([[1, 2, 3]]), torch.tensor([3]), blank=0)
    loss.backward()
    assert loss.item() == 0.0 and torch.all(log_probs.grad == 0)


def test_sequence_loss_dispatch():
    logits, target = _random()
    target[0] = 0
    ce = sequence_loss(LossConfig(label_smoothing=0.1), logits, target, ignore_index=0)
    torch.testing.assert_close(ce, label_smoothed_ce(logits, target, 0.1, ignore_index=0))
    afl = sequence_loss(LossConfig(name="anti_focal", label_smoothing=0.03), logits, target, 0)
    torch.testing.assert_close(afl, label_smoothed_anti_focal_loss(logits, target, 0.03, alpha=1.0,
                                                                   ignore_index=0))
    afl = sequence_loss(LossConfig(name="anti_focal", gamma=2), logits, target, 0)
    torch.testing.assert_close(afl, anti_focal_loss(logits, target, gamma=2, alpha=0.5, ignore_index=0))
    focal = sequence_loss(LossConfig(name="focal", gamma=2), logits, target, 0, reduction="none")
    torch.testing.assert_close(focal, focal_loss(logits, target, 2, ignore_index=0, reduction="none"))


@pytest.mark.parametrize("kwargs, key", [({"name": "fokal"}, "loss.name"),
                                         ({"label_smoothing": 1.0}, "loss.label_smoothing"),
                                         ({"gamma": -1.0}, "loss.gamma")])
def test_loss_config_errors(kwargs, key):
    with pytest.raises(LegokitError, match=key):
        LossConfig(**kwargs)


def test_low_precision_logits_are_computed_in_float32():
    logits, target = _random()
    low = anti_focal_loss(logits.bfloat16(), target)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, anti_focal_loss(logits.bfloat16().float(), target))
    assert anti_focal_loss(logits, target).dtype == torch.float64

"""Training losses: CTC, label-smoothed cross-entropy, focal and anti-focal loss.

Token-level losses take flat ``logits (N, V)`` and ``target (N,)``; rows whose target equals
``ignore_index`` (padding) contribute exactly 0 and are not counted by ``reduction="mean"``.

Anti-focal loss (Raunak et al., "On Long-Tailed Phenomena in Neural Machine Translation", Findings of
EMNLP 2020) re-weights the gold log-probability by ``(1 + α·sg(p_t))^γ`` (sg = stop-gradient), which
*raises* the weight of confident tokens relative to focal loss and relative to plain CE spreads less
mass onto the frequent head of the vocabulary. All the weighted losses here share one formula::

    loss_n = -(1 - ε) · w(p_t) · log p_t  -  ε/V · Σ_c w(p_c) · log p_c

with ``w ≡ 1`` (cross-entropy), ``w(p) = (1 + α·sg(p))^γ`` (anti-focal) or ``w(p) = (1 - sg(p))^γ``
(focal). The weights are detached, so they scale the gradient without being differentiated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from legokit.errors import LegokitError

#: maps detached probabilities (..., ) to per-entry loss weights of the same shape
WeightFn = Callable[[torch.Tensor], torch.Tensor]

REDUCTIONS = ("sum", "mean", "none")
LOSS_NAMES = ("ce", "anti_focal", "focal")


def _loss_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 for half/bfloat16/float32 inputs (stable under autocast), float64 kept."""
    return torch.promote_types(x.dtype, torch.float32)


def _reduce(loss: torch.Tensor, mask: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce per-row losses (N,) whose padded rows are already 0; "mean" divides by the kept rows."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / mask.sum().clamp(min=1)
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _weighted_smoothed_nll(logits: torch.Tensor, target: torch.Tensor, epsilon: float,
                           weight: WeightFn | None, ignore_index: int, reduction: str) -> torch.Tensor:
    """The shared formula of the module docstring.

    Args:
        logits: (N, V) unnormalised scores.
        target: (N,) gold class ids; ``ignore_index`` marks padding.
        epsilon: label-smoothing mass, spread uniformly over all V classes (gold included).
        weight: function of the detached probabilities giving per-entry weights, or None for 1.
    Returns:
        (N,) for reduction="none", else a scalar.
    """
    lprobs = F.log_softmax(logits, dim=-1, dtype=_loss_dtype(logits))  # (N, V)
    mask = target != ignore_index  # (N,)
    gold = lprobs.gather(-1, target.masked_fill(~mask, 0).unsqueeze(-1)).squeeze(-1)  # (N,)
    if weight is not None:
        gold = weight(gold.detach().exp()) * gold
    loss = -gold
    if epsilon > 0.0:
        weighted = lprobs if weight is None else weight(lprobs.detach().exp()) * lprobs
        loss = (1.0 - epsilon) * loss - epsilon / lprobs.size(-1) * weighted.sum(-1)
    return _reduce(loss.masked_fill(~mask, 0.0), mask, reduction)


def anti_focal_weight(gamma: float, alpha: float) -> WeightFn:
    """w(p) = (1 + α·p)^γ, applied to detached probabilities."""
    return lambda p: (1.0 + alpha * p) ** gamma


def focal_weight(gamma: float) -> WeightFn:
    """w(p) = (1 - p)^γ, applied to detached probabilities."""
    return lambda p: (1.0 - p) ** gamma


def label_smoothed_ce(logits: torch.Tensor, target: torch.Tensor, epsilon: float = 0.0,
                      ignore_index: int = -100, reduction: str = "sum") -> torch.Tensor:
    """Label-smoothed cross-entropy: (1 - ε)·(-log p_t) + ε/V·Σ_c(-log p_c).

    ε is spread uniformly over all V classes, the gold class included: the convention of fairseq ≤ 0.9
    (and of the vyraun/long-tailed fork the anti-focal paper used) and of
    ``F.cross_entropy(label_smoothing=ε)``. fairseq ≥ 0.10 instead spreads ε over the V - 1 other classes.

    Args:
        logits: (N, V). target: (N,) class ids, ``ignore_index`` rows contribute 0.
    Returns:
        (N,) for reduction="none", else a scalar ("mean" = over non-ignored rows).
    """
    return _weighted_smoothed_nll(logits, target, epsilon, None, ignore_index, reduction)


def anti_focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 1.0, alpha: float = 0.5,
                    ignore_index: int = -100, reduction: str = "sum") -> torch.Tensor:
    """Anti-focal loss -(1 + α·sg(p_t))^γ · log p_t. logits (N, V), target (N,)."""
    return _weighted_smoothed_nll(logits, target, 0.0, anti_focal_weight(gamma, alpha), ignore_index,
                                  reduction)


def label_smoothed_anti_focal_loss(logits: torch.Tensor, target: torch.Tensor, epsilon: float,
                                   gamma: float = 1.0, alpha: float = 1.0, ignore_index: int = -100,
                                   reduction: str = "sum") -> torch.Tensor:
    """Label-smoothed anti-focal loss: every class log-prob weighted by (1 + α·sg(p_c))^γ.

    The paper's code (criterion ``label_smoothed_focal_loss`` of vyraun/long-tailed) uses (1 + p_c)^γ
    here, without α; α = 1 (the default) reproduces it. ε follows :func:`label_smoothed_ce`.
    logits (N, V), target (N,).
    """
    return _weighted_smoothed_nll(logits, target, epsilon, anti_focal_weight(gamma, alpha), ignore_index,
                                  reduction)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 1.0, ignore_index: int = -100,
               reduction: str = "sum") -> torch.Tensor:
    """Focal loss -(1 - sg(p_t))^γ · log p_t (Lin et al. 2017, without class weights). logits (N, V)."""
    return _weighted_smoothed_nll(logits, target, 0.0, focal_weight(gamma), ignore_index, reduction)


def ctc_loss(log_probs: torch.Tensor, input_lengths: torch.Tensor, targets: torch.Tensor,
             target_lengths: torch.Tensor, blank: int, reduction: str = "sum",
             zero_infinity: bool = True) -> torch.Tensor:
    """CTC loss on batch-first log-probabilities (fused kernel of ``F.ctc_loss``).

    Args:
        log_probs: (B, T, V) log-softmax outputs.
        input_lengths: (B,) valid frames per utterance.
        targets: (B, U) token ids padded with anything (``target_lengths`` is authoritative).
        target_lengths: (B,).
        blank: the blank id of the vocabulary (``VocabularyInfo.blank``).
        zero_infinity: impossible alignments (T too short for the target) give 0 loss and gradient.
    Returns:
        (B,) for "none"; "sum" over the batch; "mean" is PyTorch's: each loss divided by its target
        length, then averaged over the batch.
    """
    return F.ctc_loss(log_probs.to(_loss_dtype(log_probs)).transpose(0, 1), targets, input_lengths, target_lengths,
                      blank=blank, reduction=reduction, zero_infinity=zero_infinity)


@dataclass
class LossConfig:
    """Token-level loss of a decoder (the CTC interface loss is configured by the model)."""

    #: "ce" (cross-entropy), "anti_focal" (Raunak et al. 2020) or "focal" (Lin et al. 2017)
    name: str = "ce"
    #: label-smoothing ε, spread over all V classes (the paper's anti-focal runs use 0.03 with γ = 1)
    label_smoothing: float = 0.0
    #: exponent γ of the focal / anti-focal weight; γ = 0 gives plain (smoothed) cross-entropy
    gamma: float = 1.0
    #: anti-focal α in (1 + α·p)^γ; None = 0.5 without smoothing, 1.0 with it (the paper's code)
    alpha: float | None = None

    def __post_init__(self) -> None:
        if self.name not in LOSS_NAMES:
            raise LegokitError(f"loss.name: unknown loss {self.name!r}; "
                               f"expected one of {', '.join(LOSS_NAMES)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise LegokitError(f"loss.label_smoothing: expected a value in [0, 1), "
                               f"got {self.label_smoothing}")
        if self.gamma < 0.0:
            raise LegokitError(f"loss.gamma: expected a value >= 0, got {self.gamma}")

    def weight(self) -> WeightFn | None:
        """The per-class weight function this config selects (None for cross-entropy)."""
        if self.name == "anti_focal":
            default_alpha = 1.0 if self.label_smoothing > 0 else 0.5
            return anti_focal_weight(self.gamma, default_alpha if self.alpha is None else self.alpha)
        if self.name == "focal":
            return focal_weight(self.gamma)
        return None


def sequence_loss(cfg: LossConfig, logits: torch.Tensor, target: torch.Tensor, ignore_index: int,
                  reduction: str = "sum") -> torch.Tensor:
    """The decoder loss selected by ``cfg``. logits (N, V), target (N,); padding rows give 0.

    A label-smoothed focal loss (weights (1 - sg(p_c))^γ on every class) follows the same formula.
    """
    return _weighted_smoothed_nll(logits, target, cfg.label_smoothing, cfg.weight(), ignore_index, reduction)

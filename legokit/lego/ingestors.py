"""Ingestors: the first block of every brick that reads an interface (LegoNN, Dalmia et al. 2023).

- :class:`WEmb` (differentiable): e_k = P_kᵀ E, the expected embedding of each marginal, optionally
  mixed over a receptive field > 1 (Conv1d), + positions, then Transformer encoder layers. Gradients
  flow back into the upstream brick, so a composed model can be fine-tuned end to end. Robust when a
  decoder is reused across tasks.
- :class:`BeamConv` (gradient-isolating): the top-k tokens of each P_k, embedded, concatenated in rank
  order (or weighted by their *detached* probabilities), Conv1d, + positions, Transformer layers.
  Nothing from the downstream loss reaches the upstream brick. Suits same-task reuse.
- :class:`StatesIngestor`: reads hidden states instead of marginals (the non-modular baseline).

All share the call ``ingestor(inputs, lengths) -> (states (B, K', dim), lengths (B,))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from legokit.config import ranged
from legokit.nn.masks import padding_mask
from legokit.nn.positional import SinusoidalPositionalEncoding
from legokit.nn.transformer import TransformerEncoder


@dataclass
class IngestorConfig:
    """How a brick reads its input interface."""

    kind: Literal["wemb", "beamconv", "states"] = "wemb"  # states = hidden states (baseline, not modular)
    num_layers: int = 2        # Transformer encoder layers after the embedding
    num_heads: int = ranged(4, "[1, inf)")  # must divide the dimension of the brick that holds the ingestor
    ffn_dim: int = ranged(1024, "[1, inf)")
    dropout: float = ranged(0.1, "[0, 1)")
    receptive_field: int = 1   # WEmb: Conv1d kernel over neighbouring positions (1 = none)
    k: int = 4                 # BeamConv: top-k tokens per position
    kernel_size: int = 3       # BeamConv: Conv1d kernel over positions
    combine: Literal["concat", "weighted"] = "concat"  # BeamConv: rank-order concat or prob-weighted sum


class _IngestorBody(nn.Module):
    """Positions + Transformer encoder layers shared by every ingestor."""

    def __init__(self, dim: int, num_layers: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.pos = SinusoidalPositionalEncoding(dim, dropout=dropout)
        self.layers = (TransformerEncoder(num_layers, dim, num_heads, ffn_dim, dropout=dropout)
                       if num_layers > 0 else None)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        mask = padding_mask(lengths, x.size(1))
        x = self.pos(x).masked_fill(mask[..., None], 0.0)
        if self.layers is not None:
            x = self.layers(x, mask)
        return x, lengths


class WEmb(nn.Module):
    """Differentiable ingestor: expected embedding PᵀE (+ optional Conv1d receptive field).

    Args:
        vocab_size: interface vocabulary size |V|.
        dim: output state size.
        receptive_field: Conv1d kernel over neighbouring positions; 1 keeps positions independent.
    """

    def __init__(self, vocab_size: int, dim: int, num_layers: int = 2, num_heads: int = 4,
                 ffn_dim: int = 1024, dropout: float = 0.1, receptive_field: int = 1) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(vocab_size, dim) * dim**-0.5)
        self.scale = dim**0.5
        self.conv = (nn.Conv1d(dim, dim, receptive_field, padding=receptive_field // 2)
                     if receptive_field > 1 else None)
        self.body = _IngestorBody(dim, num_layers, num_heads, ffn_dim, dropout)

    def forward(self, probs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """probs (B, K, |V|) rows summing to 1, lengths (B,) -> ((B, K, dim), lengths)."""
        x = (probs @ self.embedding) * self.scale  # (B, K, dim): expected embedding
        if self.conv is not None:
            x = x.masked_fill(padding_mask(lengths, x.size(1))[..., None], 0.0)
            x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.body(x, lengths)


class BeamConv(nn.Module):
    """Gradient-isolating ingestor: embeddings of the top-k tokens per position, Conv1d over positions.

    The top-k indices carry no gradient, and the optional probability weights are detached, so the
    downstream loss gives exactly zero gradient to the upstream brick.

    Args:
        vocab_size: interface vocabulary size |V|.
        dim: output state size.
        k: tokens kept per position.
        combine: "concat" (rank-ordered concatenation, projected) or "weighted" (sum weighted by the
            detached, renormalised top-k probabilities).
    """

    def __init__(self, vocab_size: int, dim: int, k: int = 4, kernel_size: int = 3, num_layers: int = 2,
                 num_heads: int = 4, ffn_dim: int = 1024, dropout: float = 0.1,
                 combine: str = "concat") -> None:
        super().__init__()
        if combine not in ("concat", "weighted"):
            raise ValueError(f"BeamConv combine must be 'concat' or 'weighted', got {combine!r}")
        self.k = min(k, vocab_size)
        self.combine = combine
        self.embedding = nn.Embedding(vocab_size, dim)
        in_dim = dim * self.k if combine == "concat" else dim
        self.conv = nn.Conv1d(in_dim, dim, kernel_size, padding=kernel_size // 2)
        self.body = _IngestorBody(dim, num_layers, num_heads, ffn_dim, dropout)

    def forward(self, probs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """probs (B, K, |V|), lengths (B,) -> ((B, K, dim), lengths)."""
        top_p, top_i = probs.detach().topk(self.k, dim=-1)  # (B, K, k), no gradient upstream
        emb = self.embedding(top_i)  # (B, K, k, dim)
        if self.combine == "concat":
            x = emb.flatten(2)  # (B, K, k*dim) in rank order
        else:
            weights = top_p / top_p.sum(-1, keepdim=True).clamp_min(1e-9)
            x = (weights[..., None] * emb).sum(2)
        x = x.masked_fill(padding_mask(lengths, x.size(1))[..., None], 0.0)
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.body(x, lengths)


class StatesIngestor(nn.Module):
    """Baseline: reads upstream hidden states (B, T, in_dim) directly (projected if sizes differ)."""

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, dim) if in_dim != dim else nn.Identity()

    def forward(self, states: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.proj(states), lengths


def build_ingestor(cfg: IngestorConfig, vocab_size: int, dim: int, in_dim: int | None = None) -> nn.Module:
    """Ingestor for ``cfg.kind``; ``in_dim`` is the upstream state size for ``kind="states"``."""
    common = dict(num_layers=cfg.num_layers, num_heads=cfg.num_heads, ffn_dim=cfg.ffn_dim, dropout=cfg.dropout)
    if cfg.kind == "wemb":
        return WEmb(vocab_size=vocab_size, dim=dim, receptive_field=cfg.receptive_field, **common)
    if cfg.kind == "beamconv":
        return BeamConv(vocab_size=vocab_size, dim=dim, k=cfg.k, kernel_size=cfg.kernel_size,
                        combine=cfg.combine, **common)
    return StatesIngestor(in_dim or dim, dim)

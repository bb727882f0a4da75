"""Encoder configuration and factory."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from legokit.errors import LegokitError
from legokit.nn.conformer import ConformerEncoder
from legokit.nn.transformer import TransformerEncoder


@dataclass
class EncoderConfig:
    """A Transformer or Conformer encoder stack (inputs already carry absolute positions)."""

    # "transformer" or "conformer".
    kind: str = "conformer"
    # Number of layers.
    num_layers: int = 12
    # Model dimension D.
    dim: int = 256
    # Attention heads (dim must be a multiple).
    num_heads: int = 4
    # Feed-forward hidden size.
    ffn_dim: int = 1024
    # Dropout on residual branches and attention probabilities.
    dropout: float = 0.1
    # Self-attention window w (query i sees keys i-w..i+w): null = full attention, an int for every
    # layer, or a list with one entry per layer (restricted attention, O(T·w)).
    window: int | list[int] | None = None
    # Depthwise convolution kernel size (conformer only; odd).
    kernel_size: int = 31
    # Normalisation in the conformer convolution module: "batch" or "layer".
    conv_norm: str = "batch"


def _check(cfg: EncoderConfig) -> None:
    """Raise LegokitError naming the first invalid ``encoder.*`` key."""
    problems = [
        (cfg.kind not in ("transformer", "conformer"), "kind", "'transformer' or 'conformer'"),
        (cfg.num_layers < 1, "num_layers", ">= 1"),
        (cfg.dim % cfg.num_heads != 0, "dim", f"a multiple of num_heads ({cfg.num_heads})"),
        (cfg.kernel_size % 2 == 0, "kernel_size", "odd"),
        (cfg.conv_norm not in ("batch", "layer"), "conv_norm", "'batch' or 'layer'"),
    ]
    for bad, key, expected in problems:
        if bad:
            raise LegokitError(f"encoder.{key} must be {expected}, got {getattr(cfg, key)!r}")


def build_encoder(cfg: EncoderConfig) -> nn.Module:
    """Build the encoder described by ``cfg``; forward(x (B, T, D), padding_mask (B, T)) -> (B, T, D)."""
    _check(cfg)
    if cfg.kind == "transformer":
        return TransformerEncoder(cfg.num_layers, cfg.dim, cfg.num_heads, cfg.ffn_dim, cfg.dropout,
                                  cfg.window)
    return ConformerEncoder(cfg.num_layers, cfg.dim, cfg.num_heads, cfg.ffn_dim, cfg.kernel_size,
                            cfg.dropout, cfg.window, cfg.conv_norm)

"""Encoder configuration and factory."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from legokit.config import InvalidValue, ranged
from legokit.errors import LegokitError
from legokit.nn.conformer import ConformerEncoder
from legokit.nn.transformer import TransformerEncoder


@dataclass
class EncoderConfig:
    """A Transformer or Conformer encoder stack (inputs carry absolute positions unless ``pos_enc`` is "rel")."""

    # "transformer" or "conformer".
    kind: str = "conformer"
    # Number of layers.
    num_layers: int = 12
    # Model dimension D.
    dim: int = ranged(256, "[1, inf)")
    # Attention heads (dim must be a multiple).
    num_heads: int = ranged(4, "[1, inf)")
    # Feed-forward hidden size.
    ffn_dim: int = ranged(1024, "[1, inf)")
    # Dropout on residual branches and attention probabilities.
    dropout: float = ranged(0.1, "[0, 1)")
    # Self-attention window w (query i sees keys i-w..i+w): null = full attention, an int for every
    # layer, or a list with one entry per layer (restricted attention, O(T·w)).
    window: int | list[int] | None = ranged(None, "[0, inf)")
    # Depthwise convolution kernel size (conformer only; odd).
    kernel_size: int = 31
    # Normalisation in the conformer convolution module: "batch" or "layer".
    conv_norm: str = "batch"
    # Positions (conformer): "abs" = sinusoids added to the input; "rel" = relative self-attention
    # (Transformer-XL, as ESPnet's/icefall's Conformer), no positions added to the input.
    pos_enc: str = "abs"

    def validate(self) -> None:
        """Raise InvalidValue naming the first invalid field (config.from_dict adds its dotted key)."""
        problems = [
            (self.kind not in ("transformer", "conformer"), "kind", "'transformer' or 'conformer'"),
            (self.num_layers < 1, "num_layers", ">= 1"),
            (self.dim % max(self.num_heads, 1) != 0, "dim", f"a multiple of num_heads ({self.num_heads})"),
            (self.kernel_size % 2 == 0, "kernel_size", "odd"),
            (self.conv_norm not in ("batch", "layer"), "conv_norm", "'batch' or 'layer'"),
            (self.pos_enc not in ("abs", "rel"), "pos_enc", "'abs' or 'rel'"),
            (self.pos_enc == "rel" and self.kind != "conformer", "pos_enc", "'abs' for kind 'transformer'"),
        ]
        for bad, key, expected in problems:
            if bad:
                raise InvalidValue(key, expected, getattr(self, key))


def check_heads(dim: int, num_heads: int, key: str = "num_heads") -> None:
    """Raise InvalidValue (naming ``key``) unless ``num_heads`` divides the model dimension ``dim``."""
    if num_heads >= 1 and dim % num_heads:
        raise InvalidValue(key, f"a divisor of the model dimension ({dim})", num_heads)


def build_encoder(cfg: EncoderConfig) -> nn.Module:
    """Build the encoder described by ``cfg``; forward(x (B, T, D), padding_mask (B, T)) -> (B, T, D)."""
    try:
        cfg.validate()
    except InvalidValue as err:
        raise LegokitError(f"encoder.{err.key} must be {err.expected}, got {err.value!r}") from None
    if cfg.kind == "transformer":
        return TransformerEncoder(cfg.num_layers, cfg.dim, cfg.num_heads, cfg.ffn_dim, cfg.dropout,
                                  cfg.window)
    return ConformerEncoder(cfg.num_layers, cfg.dim, cfg.num_heads, cfg.ffn_dim, cfg.kernel_size,
                            cfg.dropout, cfg.window, cfg.conv_norm, cfg.pos_enc)

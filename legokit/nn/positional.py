"""Sinusoidal positional encodings (Vaswani et al., 2017): absolute (added to the input) and relative
(Transformer-XL, Dai et al., 2019; the table ESPnet's ``RelPositionalEncoding`` gives the Conformer)."""

from __future__ import annotations

import math

import torch
from torch import nn

from legokit.nn.dropout import Dropout


def sinusoidal_table(length: int, dim: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The (length, dim) table on ``device`` (torch's default device if None): pe[t, 2i] = sin(t / 10000^(2i/dim)),
    pe[t, 2i+1] = cos(same)."""
    position = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)  # (L, 1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq[: dim // 2])
    return table


class SinusoidalPositionalEncoding(nn.Module):
    """Adds sinusoidal positions to its input (no scaling inside), then dropout.

    Args:
        dim: model dimension D.
        dropout: dropout probability applied after the addition.
        max_len: initial table length; the table grows when a longer input arrives.
    """

    def __init__(self, dim: int, dropout: float = 0.0, max_len: int = 10000) -> None:
        super().__init__()
        self.dim = dim
        self.dropout = Dropout(dropout)
        self.register_buffer("pe", sinusoidal_table(max_len, dim), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x (B, T, D) -> dropout(x + pe[offset:offset+T]) (B, T, D)."""
        end = offset + x.size(1)
        if end > self.pe.size(0):
            self.pe = sinusoidal_table(max(end, 2 * self.pe.size(0)), self.dim, self.pe.device)
        return self.dropout(x + self.pe[offset:end].to(x.dtype))


def relative_sinusoidal_table(reach: int, dim: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The (2·reach + 1, dim) table of relative positions: row o is the sinusoid of i - j = reach - o, so the rows
    run from +reach down to -reach (ESPnet's order); sin is odd and cos even, so the negative half is derived."""
    table = sinusoidal_table(reach + 1, dim, device)
    negative = table[1:].clone()
    negative[:, 0::2] *= -1.0
    return torch.cat([table.flip(0), negative])


class RelativePositionalEncoding(nn.Module):
    """Relative sinusoids for relative self-attention; the table grows when a longer reach is asked for.

    Args:
        dim: model dimension D.
        max_reach: initial reach of the table (offsets -max_reach..max_reach).
    """

    def __init__(self, dim: int, max_reach: int = 1024) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("pe", relative_sinusoidal_table(max_reach, dim), persistent=False)

    def forward(self, reach: int) -> torch.Tensor:
        """(2·reach + 1, D): the sinusoids of i - j = reach, reach - 1, ..., -reach."""
        center = self.pe.size(0) // 2
        if reach > center:
            self.pe = relative_sinusoidal_table(max(reach, 2 * center), self.dim, self.pe.device)
            center = self.pe.size(0) // 2
        return self.pe[center - reach: center + reach + 1]

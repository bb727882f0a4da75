"""Convolutional subsampling of feature sequences (ESPnet's Conv2dSubsampling / 6 / 8)."""

from __future__ import annotations

import torch
from torch import nn

# (kernel, stride) of each Conv2d, per subsampling factor, as in ESPnet.
_CONVS: dict[int, list[tuple[int, int]]] = {
    4: [(3, 2), (3, 2)],
    6: [(3, 2), (5, 3)],
    8: [(3, 2), (3, 2), (3, 2)],
}


def _conv_length(length, convs: list[tuple[int, int]]):
    """Output length of unpadded convolutions (works on ints and long tensors)."""
    for kernel, stride in convs:
        length = (length - kernel) // stride + 1
    return length


def _check_factor(factor: int) -> list[tuple[int, int]]:
    if factor not in _CONVS:
        raise ValueError(f"subsampling factor must be one of {sorted(_CONVS)}, got {factor}")
    return _CONVS[factor]


def subsampled_length(lengths: torch.Tensor, factor: int) -> torch.Tensor:
    """Exact output lengths (B,) of :class:`Conv2dSubsampling` for input lengths (B,) (0 if too short)."""
    return _conv_length(lengths, _check_factor(factor)).clamp(min=0)


class Conv2dSubsampling(nn.Module):
    """Subsample (B, T, F) features in time by ``factor`` (4, 6 or 8) with ReLU Conv2d layers + Linear.

    Args:
        in_dim: feature dimension F.
        dim: output dimension D.
        factor: time subsampling factor.
        channels: conv channels C (None: D, as ESPnet). The second conv costs C²·9 multiply-adds per
            output cell, so a small C (icefall uses 8/32/128) makes a small model's front end cheap.
    """

    def __init__(self, in_dim: int, dim: int, factor: int = 4, channels: int | None = None) -> None:
        super().__init__()
        self.factor = factor
        channels = channels or dim
        convs = _check_factor(factor)
        layers: list[nn.Module] = []
        for i, (kernel, stride) in enumerate(convs):
            layers += [nn.Conv2d(1 if i == 0 else channels, channels, kernel, stride), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        freq = _conv_length(in_dim, convs)
        if freq < 1:
            raise ValueError(f"in_dim {in_dim} is too small for subsampling factor {factor}")
        self.out = nn.Linear(channels * freq, dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, F), lengths (B,) -> ((B, T', D), lengths' (B,))."""
        h = self.conv(x.unsqueeze(1))  # (B, C, T', F')
        return self.out(h.transpose(1, 2).flatten(2)), subsampled_length(lengths, self.factor)

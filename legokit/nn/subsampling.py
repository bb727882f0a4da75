"""Convolutional subsampling of feature sequences (ESPnet's Conv2dSubsampling / 6 / 8)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
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

    In eval mode on CPU the same function is computed per utterance in a cheaper layout (:meth:`_inference`):
    the 12-block d 256 Conformer's subsampling over 40 length-bucketed test utterances, 1 thread, 1.55 -> 0.79
    CPU s (benchmarks/asr_encoder_espnet.py).
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
        out_lengths = subsampled_length(lengths, self.factor)
        if not self.training and x.device.type == "cpu" and not torch.compiler.is_compiling():
            return self._inference(x, lengths, out_lengths), out_lengths
        h = self.conv(x.unsqueeze(1))  # (B, C, T', F')
        return self.out(h.transpose(1, 2).flatten(2)), out_lengths

    def _inference(self, x: torch.Tensor, lengths: torch.Tensor, out_lengths: torch.Tensor) -> torch.Tensor:
        """Evaluation on CPU: each utterance of x (B, T, F) alone, without its padding -> (B, T', D), zeros past
        ``out_lengths`` (frames the encoder masks). On 1 CPU thread the convolutions of a batch cost more than
        those of its utterances one by one (2 x 1636 frames: 0.23 s, one 1600-frame utterance: 0.07 s), and
        the padding costs as much as real frames."""
        if x.size(0) == 1 and int(lengths[0]) == x.size(1):
            return self._one(x)
        out = x.new_zeros(x.size(0), max(_conv_length(x.size(1), _CONVS[self.factor]), 0), self.out.out_features)
        for i, (length, out_length) in enumerate(zip(lengths.tolist(), out_lengths.tolist(), strict=True)):
            if out_length > 0:
                out[i, :out_length] = self._one(x[i: i + 1, :length])[0]
        return out

    def _one(self, x: torch.Tensor) -> torch.Tensor:
        """The same function as the training path, in a cheaper layout: x (B, T, F) -> (B, T', D).

        The first convolution has one input channel, where the CPU convolution kernel is slow: it runs as a
        matmul of the (kernel x kernel) patches, giving (B, T1, F1, C), i.e. the channels-last layout the
        next convolutions take without a copy; ReLUs are in place; the last (B, C, T', F') output stays
        channels-last and the output Linear reads it with its weight's columns permuted to (F', C) order.
        On 1 CPU thread, factor 4, C = D = 256, 20 x 383 frames: 0.59 -> 0.41 s; equal to the training path
        within fp32 rounding (tests/nn/test_subsampling.py).
        """
        first = self.conv[0]
        kernel, stride = first.kernel_size[0], first.stride[0]
        patches = x.unfold(1, kernel, stride).unfold(2, kernel, stride)  # (B, T1, F1, k, k)
        h = F.linear(patches.flatten(3), first.weight.flatten(1), first.bias)  # (B, T1, F1, C)
        h = F.relu_(h).permute(0, 3, 1, 2)  # (B, C, T1, F1), channels-last memory
        for conv in self.conv[2::2]:
            h = F.relu_(conv(h))  # channels-last in, channels-last out
        if not isinstance(self.out.weight, torch.Tensor):  # an int8 Linear (legokit compress): weight() is packed
            return self.out(h.transpose(1, 2).flatten(2))
        channels, freq = h.shape[1], h.shape[3]
        weight = self.out.weight.view(-1, channels, freq).transpose(1, 2).flatten(1)  # columns in (F', C) order
        return F.linear(h.permute(0, 2, 3, 1).flatten(2), weight, self.out.bias)

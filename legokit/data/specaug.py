"""SpecAugment (Park et al., 2019): optional time warp, frequency masks and time masks on (B, T, F)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class SpecAugConfig:
    """SpecAugment options; the defaults are the LibriSpeech "LD" policy without time warp."""

    num_freq_masks: int = 2  # number of frequency masks per utterance
    freq_mask_width: int = 27  # maximum width F of a frequency mask, in bins
    num_time_masks: int = 2  # number of time masks per utterance
    time_mask_width: int = 100  # maximum width T of a time mask, in frames
    time_mask_ratio: float = 1.0  # a time mask covers at most this fraction p of the utterance
    time_warp: int = 0  # maximum warp distance W in frames (0 = no time warp)


def _mask(x: torch.Tensor, max_width: torch.Tensor, size: torch.Tensor, count: int, dim: int,
          generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero ``count`` random bands of width in [0, max_width] along ``dim`` (1 = time, 2 = freq) of (B, T, F);
    band b of item i starts in [0, size_i - width]. ``max_width`` and ``size`` are (B,) long."""
    B = x.shape[0]
    width = (torch.rand(B, count, device=x.device, generator=generator) * (max_width[:, None] + 1)).long()
    start = (torch.rand(B, count, device=x.device, generator=generator)
             * (size[:, None] - width + 1).clamp_min(1)).long()
    pos = torch.arange(x.shape[dim], device=x.device)
    band = ((pos >= start[..., None]) & (pos < (start + width)[..., None])).any(dim=1)  # (B, size)
    return x.masked_fill(band.unsqueeze(3 - dim), 0.0)


def time_warp(x: torch.Tensor, lengths: torch.Tensor, window: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Warp each utterance (T_i, F) in time: a random centre c moves to c + w, |w| < window."""
    out = x.clone()
    for i, n in enumerate(lengths.tolist()):
        if n <= 2 * window + 1:
            continue
        c = int(torch.randint(window, n - window, (), generator=generator))
        w = int(torch.randint(-window + 1, window, (), generator=generator))
        seg = x[i, :n].T.unsqueeze(0)  # (1, F, n)
        left = F.interpolate(seg[..., :c], size=c + w, mode="linear", align_corners=False)
        right = F.interpolate(seg[..., c:], size=n - c - w, mode="linear", align_corners=False)
        out[i, :n] = torch.cat([left, right], dim=-1)[0].T
    return out


class SpecAugment(nn.Module):
    """SpecAugment on (B, T, F) features with lengths (B,); identity in eval mode. Draws from ``generator``
    (on the features' device) if given, else from torch's default generator."""

    def __init__(self, cfg: SpecAugConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.training:
            return feats
        cfg = self.cfg
        x = time_warp(feats, lengths, cfg.time_warp, generator) if cfg.time_warp > 0 else feats
        B, _, n_freq = x.shape
        if cfg.num_freq_masks > 0:
            full = torch.full((B,), n_freq, dtype=torch.long, device=x.device)
            x = _mask(x, full.clamp_max(cfg.freq_mask_width), full, cfg.num_freq_masks, dim=2, generator=generator)
        if cfg.num_time_masks > 0:
            max_t = (lengths.to(x.device) * cfg.time_mask_ratio).long().clamp_max(cfg.time_mask_width)
            x = _mask(x, max_t, lengths.to(x.device), cfg.num_time_masks, dim=1, generator=generator)
        return x

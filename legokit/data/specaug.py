"""SpecAugment (Park et al., 2019): optional time warp, frequency masks and time masks on (B, T, F), an optional
random gain (a level change of the recording, exact on log-power mel features) and an optional random
equalisation (a smooth gain curve over frequency: the colouring a channel, microphone or vocoder adds)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from legokit.config import check_ranges, ranged


@dataclass
class SpecAugConfig:
    """SpecAugment options; the defaults are the LibriSpeech "LD" policy without time warp."""

    num_freq_masks: int = ranged(2, "[0, inf)")  # number of frequency masks per utterance
    freq_mask_width: int = ranged(27, "[0, inf)")  # maximum width F of a frequency mask, in bins
    num_time_masks: int = ranged(2, "[0, inf)")  # number of time masks per utterance
    time_mask_width: int = ranged(100, "[0, inf)")  # maximum width T of a time mask, in frames
    time_mask_ratio: float = ranged(1.0, "[0, 1]")  # a time mask covers at most this fraction p of the utterance
    time_warp: int = ranged(0, "[0, inf)")  # maximum warp distance W in frames (0 = no time warp)
    gain_db: float = ranged(0.0, "[0, inf)")  # random level change per utterance, U(-gain_db, +gain_db) dB (0 = off)
    # random equalisation per utterance: gains U(-eq_db, +eq_db) dB at eq_points evenly spaced mel bins, linear
    # between them (0 = off)
    eq_db: float = ranged(0.0, "[0, inf)")
    eq_points: int = ranged(4, "[2, inf)")  # control points of the equalisation curve (2: a tilt)


#: a gain of g dB multiplies the power spectrum by 10^(g/10): log-power mel features move by g * ln(10) / 10
NATS_PER_DB = math.log(10.0) / 10.0


def random_gain(x: torch.Tensor, lengths: torch.Tensor, max_db: float,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Add one random gain per utterance to log-power mel features (B, T, F): what scaling the waveform by
    10^(g/20) does to them (up to Kaldi's energy floor), g ~ U(-max_db, max_db); padding frames stay as they
    are. Makes a model indifferent to the recording level, which synthetic training speech never varies."""
    gain = (torch.rand(x.shape[0], device=x.device, generator=generator) * 2 - 1) * max_db * NATS_PER_DB
    valid = torch.arange(x.shape[1], device=x.device) < lengths.to(x.device)[:, None]  # (B, T)
    return x + (gain[:, None] * valid)[..., None].to(x.dtype)


def random_equalisation(x: torch.Tensor, lengths: torch.Tensor, max_db: float, points: int,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """Add one random smooth gain curve over frequency per utterance to log-power mel features (B, T, F): gains
    U(-max_db, max_db) dB at ``points`` evenly spaced bins, linear in between, i.e. a filter whose response
    varies slowly across the mel bands (up to the band's width); padding frames stay as they are. Synthetic
    training speech all has its synthesizer's spectral colour; another synthesizer (a vocoder's tilt) or a
    microphone has another."""
    B, _, n_freq = x.shape
    gains = (torch.rand(B, 1, points, device=x.device, generator=generator) * 2 - 1) * max_db * NATS_PER_DB
    curve = F.interpolate(gains, size=n_freq, mode="linear", align_corners=True)[:, 0]  # (B, F)
    valid = torch.arange(x.shape[1], device=x.device) < lengths.to(x.device)[:, None]  # (B, T)
    return x + (valid[..., None] * curve[:, None, :]).to(x.dtype)


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
    (on the features' device) if given, else from torch's default generator. A config value outside its range
    (a negative width or gain, a time_mask_ratio outside [0, 1]) is refused here too, not only in YAML."""

    def __init__(self, cfg: SpecAugConfig) -> None:
        super().__init__()
        check_ranges(cfg)
        self.cfg = cfg

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.training:
            return feats
        cfg = self.cfg
        x = random_gain(feats, lengths, cfg.gain_db, generator) if cfg.gain_db > 0 else feats
        x = random_equalisation(x, lengths, cfg.eq_db, cfg.eq_points, generator) if cfg.eq_db > 0 else x
        x = time_warp(x, lengths, cfg.time_warp, generator) if cfg.time_warp > 0 else x
        B, _, n_freq = x.shape
        if cfg.num_freq_masks > 0:
            full = torch.full((B,), n_freq, dtype=torch.long, device=x.device)
            x = _mask(x, full.clamp_max(cfg.freq_mask_width), full, cfg.num_freq_masks, dim=2, generator=generator)
        if cfg.num_time_masks > 0:
            max_t = (lengths.to(x.device) * cfg.time_mask_ratio).long().clamp_max(cfg.time_mask_width)
            x = _mask(x, max_t, lengths.to(x.device), cfg.num_time_masks, dim=1, generator=generator)
        return x

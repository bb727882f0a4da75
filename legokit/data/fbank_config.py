"""Log-mel filterbank options, apart from the feature code so that reading them (e.g. for `--help`)
does not import torch."""

from __future__ import annotations

from dataclasses import dataclass

from legokit.config import InvalidValue, check_ranges, ranged


@dataclass
class FbankConfig:
    """Log-mel filterbank options (Kaldi names and defaults, except dither=0 for reproducibility)."""

    num_mel_bins: int = ranged(80, "[1, inf)")  # number of triangular mel filters = feature dimension
    frame_length_ms: float = ranged(25.0, "(0, inf)")  # analysis window length
    frame_shift_ms: float = ranged(10.0, "(0, inf)")  # hop between frames
    dither: float = ranged(0.0, "[0, inf)")  # Gaussian dither added to int16-scaled samples (0 = deterministic)
    sample_rate: int = ranged(16000, "[1, inf)")  # expected waveform sample rate in Hz
    low_freq: float = ranged(20.0, "[0, inf)")  # lowest mel filter edge in Hz
    high_freq: float = ranged(0.0, "(-inf, inf)")  # highest edge in Hz; <= 0: Nyquist + high_freq (Kaldi)

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.hop_length < 1 or self.win_length < self.hop_length:
            raise InvalidValue("frame_shift_ms", f"at least one sample ({1000 / self.sample_rate:g} ms) and at "
                               f"most frame_length_ms ({self.frame_length_ms:g})", self.frame_shift_ms)

    @property
    def win_length(self) -> int:
        return int(self.sample_rate * self.frame_length_ms / 1000)

    @property
    def hop_length(self) -> int:
        return int(self.sample_rate * self.frame_shift_ms / 1000)

    def num_frames(self, num_samples: int) -> int:
        """Frames Kaldi produces (snip_edges=True) for a waveform of ``num_samples``."""
        return 0 if num_samples < self.win_length else 1 + (num_samples - self.win_length) // self.hop_length

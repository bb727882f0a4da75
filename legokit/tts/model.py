"""Non-autoregressive acoustic model with alignment learned by monotonic alignment search.

    tokens (B, N) or feature vectors (B, N, 25)
      -> input layer: phone embedding | linear layer over PanPhon features (the transfer strategies)
      -> + positions -> Transformer encoder -> h (B, N, D)
      -> mu = Linear(h) (B, N, 80): per-phone mean of a unit-variance Gaussian over normalised mels
      -> MAS: best monotonic alignment of phones to frames under log N(y_t; mu_i, I)  (Glow-TTS)
      -> durations d (B, N); the duration predictor learns log d from sg(h)
      -> length regulator: h repeated d times (B, T, D) -> + positions -> Transformer decoder -> mel (B, T, 80)

Losses (sums over valid frames/phones, as the trainer expects): mel L1 (mean over bins) + prior
0.5·||y − mu_aligned||² (mean over bins) + duration_weight · (log d̂ − log d)². weight = mel frames.
At synthesis the predicted durations replace MAS.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from legokit.config import ranged
from legokit.errors import LegokitError
from legokit.nn.config import check_heads
from legokit.nn.dropout import Dropout
from legokit.nn.positional import SinusoidalPositionalEncoding
from legokit.nn.transformer import TransformerEncoder
from legokit.tts.alignment import durations_from_path, length_regulate, maximum_path
from legokit.tts.data import PAD_ID
from legokit.tts.features import INPUT_DIM

INPUTS = ("phones", "features")


@dataclass
class AcousticConfig:
    """Architecture of :class:`AcousticModel`."""

    input: str = "phones"  # "phones" (embedding over the inventory) or "features" (linear over PanPhon vectors)
    num_phones: int = 0  # inventory size incl. padding and '|' (set from the data for input "phones")
    dim: int = ranged(192, "[1, inf)")  # model dimension D
    encoder_layers: int = ranged(4, "[1, inf)")  # Transformer layers over phones
    decoder_layers: int = ranged(4, "[1, inf)")  # Transformer layers over frames
    num_heads: int = ranged(2, "[1, inf)")  # attention heads (must divide dim)
    ffn_dim: int = ranged(768, "[1, inf)")  # feed-forward hidden size
    dropout: float = ranged(0.1, "[0, 1)")  # dropout in the Transformer layers
    duration_channels: int = ranged(256, "[1, inf)")  # hidden channels of the duration predictor's two convolutions
    num_mels: int = ranged(80, "[1, inf)")  # mel bins predicted
    duration_weight: float = ranged(1.0, "[0, inf)")  # weight of the duration loss

    def validate(self) -> None:
        check_heads(self.dim, self.num_heads)


class DurationPredictor(nn.Module):
    """Two Conv1d(k=3)+ReLU+LayerNorm+dropout blocks and a linear output: (B, N, D) -> log durations (B, N)."""

    def __init__(self, dim: int, channels: int, dropout: float) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv1d(dim, channels, 3, padding=1),
                                    nn.Conv1d(channels, channels, 3, padding=1)])
        self.norms = nn.ModuleList([nn.LayerNorm(channels), nn.LayerNorm(channels)])
        self.dropout = Dropout(dropout)
        self.out = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, N, D), mask (B, N) True at valid phones -> (B, N), zero at padding."""
        for conv, norm in zip(self.convs, self.norms):
            x = x * mask[..., None]
            x = self.dropout(norm(torch.relu(conv(x.transpose(1, 2)).transpose(1, 2))))
        return self.out(x).squeeze(-1) * mask


class AcousticModel(nn.Module):
    """Phones/features -> mels; forward(batch) gives the trainer's loss dict, :meth:`infer` synthesises."""

    def __init__(self, cfg: AcousticConfig) -> None:
        super().__init__()
        if cfg.input not in INPUTS:
            raise LegokitError(f"model.input must be one of {', '.join(INPUTS)}; got {cfg.input!r}")
        if cfg.input == "phones" and cfg.num_phones < 3:
            raise LegokitError("model.num_phones must be set (>= 3) for input 'phones'")
        self.cfg = cfg
        d = cfg.dim
        self.input_layer = (nn.Embedding(cfg.num_phones, d, padding_idx=PAD_ID) if cfg.input == "phones"
                            else nn.Linear(INPUT_DIM, d))
        self.pos = SinusoidalPositionalEncoding(d, cfg.dropout)
        self.encoder = TransformerEncoder(cfg.encoder_layers, d, cfg.num_heads, cfg.ffn_dim, cfg.dropout)
        self.to_mu = nn.Linear(d, cfg.num_mels)
        self.duration = DurationPredictor(d, cfg.duration_channels, cfg.dropout)
        self.decoder = TransformerEncoder(cfg.decoder_layers, d, cfg.num_heads, cfg.ffn_dim, cfg.dropout)
        self.to_mel = nn.Linear(d, cfg.num_mels)
        self.register_buffer("mel_mean", torch.zeros(cfg.num_mels))
        self.register_buffer("mel_std", torch.ones(cfg.num_mels))

    def set_mel_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Global per-bin mean/std (num_mels,) used to normalise targets and denormalise outputs."""
        self.mel_mean.copy_(mean)
        self.mel_std.copy_(std.clamp_min(1e-3))

    def encode(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, N) ids or (B, N, 25) features, lengths (B,) -> h (B, N, D), mask (B, N)."""
        mask = torch.arange(inputs.size(1), device=inputs.device)[None] < lengths[:, None]
        x = self.input_layer(inputs) * (self.cfg.dim ** 0.5 if self.cfg.input == "phones" else 1.0)
        h = self.encoder(self.pos(x), ~mask)
        return h * mask[..., None], mask

    def decode(self, h: torch.Tensor, durations: torch.Tensor, max_len: int | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """h (B, N, D), durations (B, N) -> normalised mel (B, T, M), frame mask (B, T)."""
        x, lengths = length_regulate(h, durations, max_len)
        mask = torch.arange(x.size(1), device=x.device)[None] < lengths[:, None]
        return self.to_mel(self.decoder(self.pos(x), ~mask)) * mask[..., None], mask

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """batch: "inputs" (B, N[, 25]), "input_lengths" (B,), "mel" (B, T, M), "mel_lengths" (B,)."""
        h, mask = self.encode(batch["inputs"], batch["input_lengths"])
        y = (batch["mel"] - self.mel_mean) / self.mel_std  # (B, T, M)
        mel_mask = torch.arange(y.size(1), device=y.device)[None] < batch["mel_lengths"][:, None]
        y = y * mel_mask[..., None]
        mu = self.to_mu(h)  # (B, N, M)
        loglik = (mu @ y.transpose(1, 2)) - 0.5 * (mu ** 2).sum(-1, keepdim=True) - 0.5 * (y ** 2).sum(-1)[:, None]
        path = maximum_path(loglik, batch["input_lengths"], batch["mel_lengths"])  # (B, N, T)
        durations = durations_from_path(path)
        mu_aligned = path.transpose(1, 2) @ mu  # (B, T, M)
        prior = 0.5 * ((y - mu_aligned) ** 2).mean(-1)[mel_mask].sum()
        log_d = self.duration(h.detach(), mask)
        dur = ((log_d - torch.log(durations.clamp_min(1).float())) ** 2)[mask].sum()
        mel, _ = self.decode(h, durations, y.size(1))
        l1 = (mel - y).abs().mean(-1)[mel_mask].sum()
        frames = mel_mask.sum()
        return {"loss": l1 + prior + self.cfg.duration_weight * dur, "weight": frames.float(),
                "mel_l1": l1.detach(), "prior": prior.detach(), "dur": dur.detach(),
                "phones": mask.sum().float()}

    @torch.no_grad()
    def infer(self, inputs: torch.Tensor, lengths: torch.Tensor, length_scale: float = 1.0,
              return_durations: bool = False) -> tuple[torch.Tensor, ...]:
        """inputs (B, N[, 25]), lengths (B,) -> log mels (B, T, M) (denormalised), frame lengths (B,)
        [, predicted frames per input token (B, N), 0 at padding, with `return_durations`]."""
        h, mask = self.encode(inputs, lengths)
        durations = torch.round(torch.exp(self.duration(h, mask)) * length_scale).long().clamp_min(1) * mask
        mel, mel_mask = self.decode(h, durations)
        out = (mel * self.mel_std + self.mel_mean, mel_mask.sum(1))
        return (*out, durations) if return_durations else out

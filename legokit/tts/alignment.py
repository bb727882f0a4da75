"""Monotonic alignment search (MAS, Glow-TTS) and the length regulator.

MAS finds, for each utterance, the monotonic, surjective alignment of N phones to T ≥ N mel frames
(every phone gets ≥ 1 consecutive frames, in order) that maximises the summed log-likelihood
value[i, t]. Dynamic programming over frames, vectorised over the batch and the phones:
Q[i, t] = value[i, t] + max(Q[i, t-1], Q[i-1, t-1]), then a backtrack from (N-1, T-1).
"""

from __future__ import annotations

import torch

NEG = float("-inf")


@torch.no_grad()
def maximum_path(value: torch.Tensor, text_lengths: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
    """value (B, N, T) log-likelihoods -> 0/1 path (B, N, T) (zero outside the lengths)."""
    b, n, t = value.shape
    device = value.device
    value = value.detach().float().cpu()
    text_lengths, mel_lengths = text_lengths.cpu(), mel_lengths.cpu()
    valid = (torch.arange(n)[None, :, None] < text_lengths[:, None, None]) & \
            (torch.arange(t)[None, None, :] < mel_lengths[:, None, None])  # (B, N, T)
    value = value.masked_fill(~valid, NEG)
    q = torch.full((b, n, t), NEG)
    q[:, 0, 0] = value[:, 0, 0]
    first = torch.full((b, 1), NEG)
    for j in range(1, t):
        prev = q[:, :, j - 1]  # (B, N)
        q[:, :, j] = value[:, :, j] + torch.maximum(prev, torch.cat([first, prev[:, :-1]], dim=1))
    path = torch.zeros(b, n, t)
    rows = torch.arange(b)
    index = text_lengths - 1  # (B,) current phone
    for j in range(t - 1, -1, -1):
        active = j < mel_lengths
        path[rows[active], index[active], j] = 1.0
        if j == 0:
            break
        stay = q[rows, index, j - 1]
        move = q[rows, (index - 1).clamp_min(0), j - 1]
        step = active & (index > 0) & ((move > stay) | (index == j))
        index = index - step.long()
    return path.to(device)


def durations_from_path(path: torch.Tensor) -> torch.Tensor:
    """path (B, N, T) -> frames per phone (B, N) long."""
    return path.sum(-1).long()


def length_regulate(x: torch.Tensor, durations: torch.Tensor, max_len: int | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat phone states x (B, N, D) by durations (B, N) -> (B, T, D) and frame lengths (B,)."""
    lengths = durations.sum(1)
    t = int(max_len if max_len is not None else max(int(lengths.max()), 1))
    ends = durations.cumsum(1)  # (B, N)
    frames = torch.arange(t, device=x.device)
    index = torch.searchsorted(ends, frames.expand(x.size(0), t).contiguous(), right=True)  # (B, T)
    index = index.clamp_max(x.size(1) - 1)
    out = torch.gather(x, 1, index[..., None].expand(-1, -1, x.size(2)))
    return out * (frames[None] < lengths[:, None])[..., None], lengths

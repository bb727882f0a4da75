"""Masks of padded batches."""

from __future__ import annotations

import torch
from torch import Tensor


def padding_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(B,) lengths -> (B, max_len) bool, True at padding, on the device of ``lengths`` (no host sync)."""
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]

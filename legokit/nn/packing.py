"""The real frames of a padded batch as packed rows, for position-wise layers at inference."""

from __future__ import annotations

import torch
from torch import Tensor

from legokit.nn.masks import padding_mask as suffix_padding


class Packing:
    """The N real frames of a padded batch, utterance after utterance.

    padding_mask (B, T) True at padding, each utterance's real frames first (as :func:`~legokit.nn.masks.padding_mask`
    makes it). ``pack``: (B, T, D) -> (N, D); ``unpack``: (N, D) -> (B, T, D) with zeros at the padding.
    ``lengths``: the frames of each utterance (Python ints), so utterance i is rows
    sum(lengths[:i]) .. sum(lengths[:i + 1]) of the packed layout.
    """

    def __init__(self, padding_mask: Tensor) -> None:
        lengths = (~padding_mask).sum(1)
        if not torch.equal(padding_mask, suffix_padding(lengths, padding_mask.size(1))):
            raise ValueError("Packing needs a padding mask with the padding after each utterance's frames")
        self.mask = padding_mask
        self.index = (~padding_mask).flatten().nonzero().squeeze(1)  # (N,) rows of the flat (B * T) layout
        self.lengths: list[int] = lengths.tolist()

    @classmethod
    def of(cls, padding_mask: Tensor) -> Packing | None:
        """The packing of ``padding_mask``, or None if some utterance has padding before a real frame."""
        try:
            return cls(padding_mask)
        except ValueError:
            return None

    def pack(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (N, D) real frames."""
        return x.reshape(-1, x.size(-1)).index_select(0, self.index)

    def unpack(self, x: Tensor) -> Tensor:
        """(N, D) -> (B, T, D), zeros at the padding."""
        batch, length = self.mask.shape
        out = x.new_zeros(batch * length, x.size(-1))
        return out.index_copy_(0, self.index, x).view(batch, length, -1)

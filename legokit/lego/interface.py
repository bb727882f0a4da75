"""The LegoNN interface: a sequence of marginal distributions over a fixed vocabulary.

A brick's output interface is K distributions P_1..P_K over an interface vocabulary V (the pieces of a
sentencepiece model, the CTC blank included). Two bricks can be joined when the upstream output
interface and the downstream input interface have the same *signature*: a hash of the ordered piece
list with the blank index. The manifest entry also carries the special ids (:class:`VocabularyInfo`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from legokit.data.tokenizer import Tokenizer
from legokit.data.vocab import VocabularyInfo
from legokit.nn.masks import padding_mask


@dataclass(frozen=True)
class InterfaceVocab:
    """An interface vocabulary: ordered pieces (index = token id) and the ids of its special symbols."""

    pieces: tuple[str, ...]
    ids: VocabularyInfo

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer) -> InterfaceVocab:
        return cls(tuple(tokenizer.pieces), tokenizer.vocab)

    @property
    def size(self) -> int:
        return len(self.pieces)

    @property
    def signature(self) -> str:
        """Stable identity: sha256 over the blank index and the ordered pieces (first 16 hex digits)."""
        digest = hashlib.sha256(f"blank={self.ids.blank}\n".encode())
        for piece in self.pieces:
            digest.update(piece.encode("utf-8") + b"\n")
        return digest.hexdigest()[:16]

    def describe(self) -> dict[str, object]:
        """Manifest entry for this interface."""
        return {"type": "vocabulary", "signature": self.signature, "size": self.size, **self.ids.describe()}


class CTCHead(nn.Module):
    """Projects states to interface logits; softmax of the logits are the marginals P.

    Args:
        dim: input state size D.
        vocab_size: interface vocabulary size |V| (blank included).
    """

    def __init__(self, dim: int, vocab_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, vocab_size)

    def forward(self, states: Tensor) -> Tensor:
        """states (B, K, D) -> logits (B, K, |V|)."""
        return self.proj(states)


def marginals(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Interface marginals P (B, K, |V|) from logits; rows sum to 1."""
    return torch.softmax(logits.float() / temperature, dim=-1).to(logits.dtype)


def tokens_as_frames(tokens: Tensor, lengths: Tensor, frames_per_token: float, *, blank: int,
                     random: bool = True) -> tuple[Tensor, Tensor]:
    """Spread token ids over CTC-like frames: each token on one frame, a random run of blanks after it.

    A speech brick's interface has one frame per 40 ms, nearly all blank, a token's peak on one frame. A brick
    that reads that interface but is trained on text (LegoNN's three-brick middle brick) sees its training
    sentences this way so that it reads the speech brick's frames zero-shot. ``random``: each blank run is Poisson
    with mean frames_per_token - 1, and a Poisson run with mean frames_per_token before the first token stands
    for leading silence; torch's default generator draws them (``torch.manual_seed`` makes it reproducible).
    Otherwise (evaluation) the same means, spread evenly: token i is followed by
    floor((i + 1) (m - 1)) - floor(i (m - 1)) blanks, and floor(m) blanks lead.

    tokens (B, S) ids with padding anywhere past ``lengths`` (B,) -> frames (B, T) ids, blank-padded, and their
    lengths (B,) = lead + sum over tokens of (1 + run).
    """
    if frames_per_token < 1:
        raise ValueError(f"frames_per_token must be >= 1, got {frames_per_token}")
    batch, length = tokens.shape
    device = tokens.device
    valid = ~padding_mask(lengths, length)
    if random:
        runs = torch.poisson(torch.full((batch, length), frames_per_token - 1.0, device=device)).long()
        lead = torch.poisson(torch.full((batch, 1), float(frames_per_token), device=device)).long()
    else:
        edges = torch.floor(torch.arange(length + 1, device=device, dtype=torch.float64) * (frames_per_token - 1))
        runs = (edges[1:] - edges[:-1]).long().expand(batch, length)
        lead = torch.full((batch, 1), int(frames_per_token), device=device, dtype=torch.long)
    span = 1 + runs * valid  # frames per token (B, S)
    start = lead + torch.cumsum(span, dim=1) - span  # each token's frame (B, S)
    frame_lengths = lead[:, 0] + (span * valid).sum(dim=1)
    total = int(frame_lengths.max()) if batch else 0
    frames = torch.full((batch, total + 1), blank, dtype=tokens.dtype, device=device)
    frames.scatter_(1, torch.where(valid, start, torch.full_like(start, total)), tokens)  # padding -> column T
    return frames[:, :total], frame_lengths


def corrupt_tokens(tokens: Tensor, lengths: Tensor, rate: float, vocab: VocabularyInfo) -> Tensor:
    """Misread a sentence as a speech brick might: each token, with probability ``rate``, is replaced by a random
    regular token of ``vocab`` (not one of its special ids) or dropped (made blank), half each.

    A middle brick trained on clean text never learns to correct its upstream brick's errors; trained on
    corrupted text, it learns to use the context. tokens (B, S) ids, lengths (B,) -> (B, S) ids, padding kept.
    Uses torch's default generator.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    valid = ~padding_mask(lengths, tokens.size(1))
    draw = torch.rand(tokens.shape, device=tokens.device)
    substitute = valid & (draw < rate / 2)
    drop = valid & (draw >= rate / 2) & (draw < rate)
    special = {vocab.blank, vocab.pad, vocab.unk, vocab.bos, vocab.eos}
    regular = torch.tensor([i for i in range(vocab.size) if i not in special], device=tokens.device,
                           dtype=tokens.dtype)
    random_ids = regular[torch.randint(0, len(regular), tokens.shape, device=tokens.device)]
    out = torch.where(substitute, random_ids, tokens)
    return out.masked_fill(drop, vocab.blank)

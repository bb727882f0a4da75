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

"""Decoder brick: ingestor + autoregressive Transformer decoder producing the output vocabulary.

The decoder reads an interface (marginals through WEmb/BeamConv) or, for the non-modular baseline,
the upstream hidden states. It implements :class:`legokit.decode.protocol.StepDecoder`, so the batched
beam search drives it with an incremental key/value cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from legokit.config import ranged
from legokit.lego.encoders import LengthStats
from legokit.lego.ingestors import IngestorConfig, build_ingestor
from legokit.nn.config import check_heads
from legokit.nn.masks import padding_mask
from legokit.nn.positional import SinusoidalPositionalEncoding
from legokit.nn.transformer import TransformerDecoder


@dataclass
class DecoderBrickConfig:
    """A decoder brick: how it ingests its input and the autoregressive decoder's sizes."""

    ingestor: IngestorConfig = field(default_factory=IngestorConfig)
    dim: int = ranged(256, "[1, inf)")
    num_layers: int = ranged(3, "[1, inf)")
    num_heads: int = ranged(4, "[1, inf)")
    ffn_dim: int = ranged(1024, "[1, inf)")
    dropout: float = ranged(0.1, "[0, 1)")
    tie_embeddings: bool = True  # output projection shares the target embedding

    def validate(self) -> None:
        """The decoder's and its ingestor's heads divide the decoder dimension."""
        check_heads(self.dim, self.num_heads)
        check_heads(self.dim, self.ingestor.num_heads, "ingestor.num_heads")


@dataclass
class DecoderState:
    """Beam-search state: the Transformer decoder's key/value cache."""

    cache: object


class DecoderBrick(nn.Module):
    """Ingestor + Transformer decoder.

    Args:
        cfg: brick configuration.
        input_vocab_size: input interface size |V_in| (unused with ``ingestor.kind="states"``).
        output_vocab_size: output vocabulary size (ids follow the tokenizer convention: bos=2, eos=3).
        input_dim: upstream state size, for ``ingestor.kind="states"``.
    """

    def __init__(self, cfg: DecoderBrickConfig, input_vocab_size: int, output_vocab_size: int,
                 input_dim: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.ingestor = build_ingestor(cfg.ingestor, input_vocab_size, cfg.dim, in_dim=input_dim)
        # its padding_idx is the pad id of the output vocabulary, set by LegoModel (not assumed to be 0)
        self.embed = nn.Embedding(output_vocab_size, cfg.dim)
        nn.init.normal_(self.embed.weight, std=cfg.dim**-0.5)
        self.pos = SinusoidalPositionalEncoding(cfg.dim, dropout=cfg.dropout)
        self.decoder = TransformerDecoder(cfg.num_layers, cfg.dim, cfg.num_heads, cfg.ffn_dim,
                                          dropout=cfg.dropout, causal=True)
        self.output = nn.Linear(cfg.dim, output_vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.output.weight = self.embed.weight
        self.length_stats = LengthStats()  # input = interface lengths K, output = target lengths

    def ingest(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Marginals (B, K, |V_in|) or states (B, K, D_in) -> memory (B, K', D), padding mask (B, K')."""
        memory, mem_lengths = self.ingestor(inputs, lengths)
        return memory, padding_mask(mem_lengths, memory.size(1))

    def _embed(self, tokens: Tensor, offset: int = 0) -> Tensor:
        return self.pos(self.embed(tokens) * self.cfg.dim**0.5, offset=offset)

    def forward(self, inputs: Tensor, lengths: Tensor, prev_tokens: Tensor, prev_lengths: Tensor) -> Tensor:
        """Teacher-forced logits (B, U, |V_out|) for prev_tokens (B, U) (bos + target), lengths (B,)."""
        memory, memory_mask = self.ingest(inputs, lengths)
        if self.training:
            self.length_stats.update(lengths, prev_lengths, None)
        hidden = self.decoder(self._embed(prev_tokens), memory, memory_mask,
                              padding_mask=padding_mask(prev_lengths, prev_tokens.size(1)))
        return self.output(hidden)

    # --- StepDecoder protocol (legokit.decode.protocol) -------------------------------------------
    def init_state(self, memory: Tensor, memory_padding_mask: Tensor) -> DecoderState:
        return DecoderState(self.decoder.init_cache(memory, memory_padding_mask))

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """tokens (N, U) prefix starting with bos -> log-probs (N, |V_out|) of the next token."""
        x = self._embed(tokens[:, -1:], offset=tokens.size(1) - 1)
        hidden, cache = self.decoder.forward_step(x, state.cache)
        return torch.log_softmax(self.output(hidden[:, -1]).float(), dim=-1), DecoderState(cache)

    def reorder_state(self, state: DecoderState, index: Tensor) -> DecoderState:
        return DecoderState(self.decoder.reorder_cache(state.cache, index))

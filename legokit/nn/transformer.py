"""Pre-norm Transformer encoder and decoder (with an incremental cache for beam search)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from legokit.errors import LegokitError
from legokit.nn.attention import MultiHeadAttention
from legokit.nn.dropout import Dropout


class FeedForward(nn.Sequential):
    """Position-wise feed-forward: Linear(D, F) -> activation -> dropout -> Linear(F, D) -> dropout."""

    def __init__(self, dim: int, ffn_dim: int, dropout: float, activation: nn.Module | None = None) -> None:
        super().__init__(
            nn.Linear(dim, ffn_dim),
            activation if activation is not None else nn.ReLU(),
            Dropout(dropout),
            nn.Linear(ffn_dim, dim),
            Dropout(dropout),
        )


def layer_windows(window: int | list[int] | None, num_layers: int) -> list[int | None]:
    """Expand an encoder's ``window`` option (one value for all layers, or one per layer) to a list."""
    if isinstance(window, list):
        if len(window) != num_layers:
            raise LegokitError(
                f"encoder option 'window' lists {len(window)} values but the encoder has {num_layers} "
                "layers: give one window per layer, a single int for all layers, or null for full attention"
            )
        return list(window)
    return [window] * num_layers


class TransformerEncoderLayer(nn.Module):
    """Pre-norm self-attention (full, or restricted to ±window) + feed-forward block.

    Args:
        dim: model dimension D.
        num_heads: attention heads.
        ffn_dim: feed-forward hidden size.
        dropout: dropout on residual branches and attention probabilities.
        window: None for full self-attention, w for restricted attention (query i sees keys i-w..i+w).
    """

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float = 0.1,
                 window: int | None = None) -> None:
        super().__init__()
        self.window = window
        self.norm_attn = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, num_heads, dropout)
        self.dropout = Dropout(dropout)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, ffn_dim, dropout)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D), padding_mask (B, T) True at padding -> (B, T, D)."""
        h = self.norm_attn(x)
        x = x + self.dropout(self.self_attn(h, h, h, padding_mask, window=self.window))
        return x + self.ffn(self.norm_ffn(x))


class TransformerEncoder(nn.Module):
    """A stack of pre-norm encoder layers and a final LayerNorm. Positions are added by the caller.

    Args:
        num_layers: number of layers.
        dim, num_heads, ffn_dim, dropout: as in :class:`TransformerEncoderLayer`.
        window: None (full attention), one window for all layers, or a list with one per layer
            (None entries allowed).
    """

    def __init__(self, num_layers: int, dim: int, num_heads: int, ffn_dim: int, dropout: float = 0.1,
                 window: int | list[int] | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(dim, num_heads, ffn_dim, dropout, w)
            for w in layer_windows(window, num_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None,
                after_layer: Callable[[int, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """x (B, T, D), padding_mask (B, T) True at padding -> (B, T, D).

        ``after_layer(i, states)``, if given, runs after layer i (1-based) on the (B, T, D) states and returns
        those layer i + 1 reads (intermediate CTC, self-conditioning)."""
        for i, layer in enumerate(self.layers, start=1):
            x = layer(x, padding_mask)
            if after_layer is not None:
                x = after_layer(i, x)
        return self.norm(x)


@dataclass
class DecoderCache:
    """Incremental-decoding state of a :class:`TransformerDecoder` (inference only).

    self_kv: per layer, a (R, C, 2, D) buffer, R >= N rows, C positions: rows :N, positions :length hold
        the projected self-attention keys ([..., 0, :]) and values ([..., 1, :]). Step t writes position t in
        place (no growing concatenation); a reorder copies each row's positions :length as one block.
    spare: one more buffer like those of self_kv. ``reorder_cache`` gathers layer i into it and the old
        buffer of layer i becomes the spare for layer i + 1: a step allocates nothing, and the cache needs
        one layer more than its contents, not twice them.
    length: positions cached so far.
    qkv: per layer, the fused self-attention q/k/v projection (``MultiHeadAttention.fused_qkv``).
    cross_k/cross_v: (G, H, S, Dh) projected memory, computed once by ``init_cache``, kept once per memory
        row (not once per hypothesis): beam hypotheses of one utterance share it.
    memory_padding_mask: (G, S) True at padded memory positions, or None.
    memory_rows: (N,) long, the memory row (into G) each of the N hypothesis rows attends to.
    """

    self_kv: list[torch.Tensor]
    spare: torch.Tensor
    length: int
    qkv: list[tuple[torch.Tensor, torch.Tensor | None] | None]
    cross_k: list[torch.Tensor]
    cross_v: list[torch.Tensor]
    memory_padding_mask: torch.Tensor | None
    memory_rows: torch.Tensor


class TransformerDecoderLayer(nn.Module):
    """Pre-norm decoder layer: self-attention (causal or not), cross-attention to memory, feed-forward."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float = 0.1,
                 causal: bool = True) -> None:
        super().__init__()
        self.causal = causal
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, num_heads, dropout)
        self.norm_cross = nn.LayerNorm(dim)
        self.cross_attn = MultiHeadAttention(dim, num_heads, dropout)
        self.dropout = Dropout(dropout)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, ffn_dim, dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        memory_padding_mask: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, U, D), memory (B, S, D), masks (B, S) / (B, U) True at padding -> (B, U, D)."""
        h = self.norm_self(x)
        x = x + self.dropout(self.self_attn(h, h, h, padding_mask, self.causal))
        cross_k, cross_v = self.cross_attn.project_kv(memory, memory)
        return self.cross_and_ffn(x, (cross_k, cross_v, memory_padding_mask))

    def self_attend_step(self, x: torch.Tensor, kv: torch.Tensor, t: int,
                         qkv: tuple[torch.Tensor, torch.Tensor | None] | None) -> torch.Tensor:
        """Self-attention sub-layer for one new position t: x (N, 1, D) -> x + attention (N, 1, D).

        kv (N, C, 2, D) is this layer's slice of the cache buffer: the new key/value are written at
        position t, the query attends to positions 0..t. qkv is :meth:`MultiHeadAttention.fused_qkv`.
        """
        q, new_kv = self.self_attn.project_qkv(self.norm_self(x), qkv).split([x.size(2), 2 * x.size(2)], dim=2)
        kv[:, t] = new_kv.view(kv.size(0), 2, -1)
        split = self.self_attn.split_heads
        return x + self.dropout(self.self_attn.attend_heads(split(q), split(kv[:, : t + 1, 0]),
                                                            split(kv[:, : t + 1, 1])))

    def cross_and_ffn(
        self,
        x: torch.Tensor,
        cross_kv: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
        rows_per_memory: int = 1,
    ) -> torch.Tensor:
        """The layer after self-attention: x (B, U, D) -> (B, U, D).

        cross_kv = (k, v, memory_padding_mask) projected memory with B / rows_per_memory rows: each run of
        rows_per_memory consecutive rows of x reads one memory row (their queries are attended to together,
        so the memory is never copied per row).
        """
        q = self.norm_cross(x)
        q = q.reshape(-1, rows_per_memory * q.size(1), q.size(2))  # (B / r, r * U, D)
        x = x + self.dropout(self.cross_attn.attend(q, *cross_kv).reshape(x.shape))
        return x + self.ffn(self.norm_ffn(x))


class TransformerDecoder(nn.Module):
    """A stack of pre-norm decoder layers and a final LayerNorm; inputs are embedded (with positions).

    Args:
        num_layers: number of layers.
        dim: model dimension D.
        num_heads: attention heads.
        ffn_dim: feed-forward hidden size.
        dropout: dropout on residual branches and attention probabilities.
        causal: causal self-attention (autoregressive decoder); False lets all queries see each other
            (the LegoNN output length controller).
    """

    def __init__(self, num_layers: int, dim: int, num_heads: int, ffn_dim: int, dropout: float = 0.1,
                 causal: bool = True) -> None:
        super().__init__()
        self.causal = causal
        self.layers = nn.ModuleList(
            TransformerDecoderLayer(dim, num_heads, ffn_dim, dropout, causal) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        memory_padding_mask: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, U, D), memory (B, S, D), masks (B, S) / (B, U) True at padding -> (B, U, D)."""
        for layer in self.layers:
            x = layer(x, memory, memory_padding_mask, padding_mask)
        return self.norm(x)

    def init_cache(
        self, memory: torch.Tensor, memory_padding_mask: torch.Tensor | None = None, capacity: int = 32
    ) -> DecoderCache:
        """Project memory (N, S, D) once per layer; self-attention buffers for ``capacity`` positions
        (grown by doubling when full)."""
        cross = [layer.cross_attn.project_kv(memory, memory) for layer in self.layers]
        shape = (memory.size(0), capacity, 2, memory.size(2))
        return DecoderCache(
            self_kv=[memory.new_empty(shape) for _ in self.layers], spare=memory.new_empty(shape), length=0,
            qkv=[layer.self_attn.fused_qkv() for layer in self.layers],
            cross_k=[k for k, _ in cross], cross_v=[v for _, v in cross],
            memory_padding_mask=memory_padding_mask,
            memory_rows=torch.arange(memory.size(0), device=memory.device),
        )

    @torch.no_grad()
    def forward_step(self, x_new: torch.Tensor, cache: DecoderCache) -> tuple[torch.Tensor, DecoderCache]:
        """Decode one new position: x_new (N, 1, D) -> ((N, 1, D), cache with its K/V written in place).

        Equals the last position of :meth:`forward` over the whole prefix (causal decoders only).
        """
        if not self.causal:
            raise ValueError("forward_step needs a causal decoder (causal=True)")
        per_memory = _rows_per_memory(cache.memory_rows, cache.cross_k[0].size(0))
        rows = None if per_memory else cache.memory_rows  # uneven rows: gather the memory per row
        mask = cache.memory_padding_mask
        if rows is not None and mask is not None:
            mask = mask.index_select(0, rows)
        t = cache.length
        if t == cache.self_kv[0].size(1):
            for i, kv in enumerate(cache.self_kv):  # full: double the capacity, one layer at a time
                cache.self_kv[i] = _resized(kv, 2 * t, t)
            cache.spare = cache.spare.new_empty(cache.self_kv[0].shape)
        x = x_new
        for i, layer in enumerate(self.layers):
            x = layer.self_attend_step(x, cache.self_kv[i][: x_new.size(0)], t, cache.qkv[i])
            cross_k, cross_v = cache.cross_k[i], cache.cross_v[i]
            if rows is not None:
                cross_k, cross_v = cross_k.index_select(0, rows), cross_v.index_select(0, rows)
            x = layer.cross_and_ffn(x, (cross_k, cross_v, mask), per_memory or 1)
        cache.length = t + 1
        return self.norm(x), cache

    @staticmethod
    @torch.no_grad()
    def reorder_cache(cache: DecoderCache, index: torch.Tensor) -> DecoderCache:
        """Select hypotheses: index (N',) long into the N rows. The self-attention K/V are gathered layer by
        layer through the spare buffer (the given cache is consumed); the memory K/V only lose the rows no
        hypothesis reads any more."""
        used, rows = torch.unique(cache.memory_rows.index_select(0, index), return_inverse=True)
        cross_k, cross_v, mask = cache.cross_k, cache.cross_v, cache.memory_padding_mask
        if used.numel() < cross_k[0].size(0):
            cross_k, cross_v = ([t.index_select(0, used) for t in kv] for kv in (cross_k, cross_v))
            mask = None if mask is None else mask.index_select(0, used)
        spare, t = cache.spare, cache.length
        for i, kv in enumerate(cache.self_kv):
            if spare.size(0) < index.numel():
                spare = kv.new_empty((index.numel(), *kv.shape[1:]))
            torch.index_select(kv[:, :t], 0, index, out=spare[: index.numel(), :t])
            cache.self_kv[i], spare = spare, kv
        return DecoderCache(
            self_kv=cache.self_kv, spare=spare, length=t, qkv=cache.qkv,
            cross_k=cross_k, cross_v=cross_v, memory_padding_mask=mask, memory_rows=rows,
        )


def _resized(kv: torch.Tensor, capacity: int, length: int) -> torch.Tensor:
    """A new buffer (N, capacity, ...) holding positions :length of kv (N, C, ...)."""
    out = kv.new_empty((kv.size(0), capacity, *kv.shape[2:]))
    out[:, :length] = kv[:, :length]
    return out


def _rows_per_memory(memory_rows: torch.Tensor, groups: int) -> int | None:
    """r if memory_rows (N,) is [0]*r + [1]*r + ... + [groups-1]*r (the beam-search layout), else None."""
    if memory_rows.numel() % groups:
        return None
    per = memory_rows.numel() // groups
    expected = torch.arange(groups, device=memory_rows.device).repeat_interleave(per)
    return per if torch.equal(memory_rows, expected) else None

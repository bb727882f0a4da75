"""Pre-norm Transformer encoder and decoder (with an incremental cache for beam search)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from legokit.errors import LegokitError
from legokit.nn.attention import MultiHeadAttention


class FeedForward(nn.Sequential):
    """Position-wise feed-forward: Linear(D, F) -> activation -> dropout -> Linear(F, D) -> dropout."""

    def __init__(self, dim: int, ffn_dim: int, dropout: float, activation: nn.Module | None = None) -> None:
        super().__init__(
            nn.Linear(dim, ffn_dim),
            activation if activation is not None else nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(ffn_dim, dim),
            nn.Dropout(dropout),
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
        self.dropout = nn.Dropout(dropout)
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

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D), padding_mask (B, T) True at padding -> (B, T, D)."""
        for layer in self.layers:
            x = layer(x, padding_mask)
        return self.norm(x)


@dataclass
class DecoderCache:
    """Incremental-decoding state of a :class:`TransformerDecoder`, one entry per layer.

    self_k/self_v: (N, H, t, Dh) projected self-attention keys/values of the t positions seen so far.
    cross_k/cross_v: (G, H, S, Dh) projected memory, computed once by ``init_cache``, kept once per memory
        row (not once per hypothesis): beam hypotheses of one utterance share it.
    memory_padding_mask: (G, S) True at padded memory positions, or None.
    memory_rows: (N,) long, the memory row (into G) each of the N hypothesis rows attends to.
    """

    self_k: list[torch.Tensor]
    self_v: list[torch.Tensor]
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
        self.dropout = nn.Dropout(dropout)
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
        self_k, self_v = self.self_attn.project_kv(h, h)
        cross_k, cross_v = self.cross_attn.project_kv(memory, memory)
        return self.attend(
            x, h, (self_k, self_v, padding_mask, self.causal), (cross_k, cross_v, memory_padding_mask)
        )

    def attend(
        self,
        x: torch.Tensor,
        h: torch.Tensor,
        self_kv: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, bool],
        cross_kv: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
        rows_per_memory: int = 1,
    ) -> torch.Tensor:
        """The layer given projected K/V: x (B, U, D) residual input, h = norm_self(x) -> (B, U, D).

        self_kv = (k, v, key_padding_mask, causal); cross_kv = (k, v, memory_padding_mask) with
        B / rows_per_memory memory rows: each run of rows_per_memory consecutive rows of x reads one memory
        row (their queries are attended to together, so the memory is never copied per row).
        """
        x = x + self.dropout(self.self_attn.attend(h, *self_kv))
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
        self, memory: torch.Tensor, memory_padding_mask: torch.Tensor | None = None
    ) -> DecoderCache:
        """Project memory (N, S, D) once per layer; start with empty self-attention K/V."""
        cross = [layer.cross_attn.project_kv(memory, memory) for layer in self.layers]
        empty = [k.new_zeros(k.shape[:2] + (0, k.size(3))) for k, _ in cross]
        return DecoderCache(
            self_k=empty, self_v=list(empty), cross_k=[k for k, _ in cross], cross_v=[v for _, v in cross],
            memory_padding_mask=memory_padding_mask,
            memory_rows=torch.arange(memory.size(0), device=memory.device),
        )

    def forward_step(self, x_new: torch.Tensor, cache: DecoderCache) -> tuple[torch.Tensor, DecoderCache]:
        """Decode one new position: x_new (N, 1, D) -> ((N, 1, D), cache with its K/V appended).

        Equals the last position of :meth:`forward` over the whole prefix (causal decoders only).
        """
        if not self.causal:
            raise ValueError("forward_step needs a causal decoder (causal=True)")
        per_memory = _rows_per_memory(cache.memory_rows, cache.cross_k[0].size(0))
        rows = None if per_memory else cache.memory_rows  # uneven rows: gather the memory per row
        mask = cache.memory_padding_mask
        if rows is not None and mask is not None:
            mask = mask.index_select(0, rows)
        x = x_new
        for i, layer in enumerate(self.layers):
            h = layer.norm_self(x)
            k, v = layer.self_attn.project_kv(h, h)
            cache.self_k[i] = torch.cat([cache.self_k[i], k], dim=2)
            cache.self_v[i] = torch.cat([cache.self_v[i], v], dim=2)
            cross_k, cross_v = cache.cross_k[i], cache.cross_v[i]
            if rows is not None:
                cross_k, cross_v = cross_k.index_select(0, rows), cross_v.index_select(0, rows)
            x = layer.attend(x, h, (cache.self_k[i], cache.self_v[i], None, False), (cross_k, cross_v, mask),
                             per_memory or 1)
        return self.norm(x), cache

    @staticmethod
    def reorder_cache(cache: DecoderCache, index: torch.Tensor) -> DecoderCache:
        """Select hypotheses: index (N',) long into the N rows. Self-attention K/V are gathered; the memory
        K/V only lose the rows no hypothesis reads any more."""
        used, rows = torch.unique(cache.memory_rows.index_select(0, index), return_inverse=True)
        cross_k, cross_v, mask = cache.cross_k, cache.cross_v, cache.memory_padding_mask
        if used.numel() < cross_k[0].size(0):
            cross_k, cross_v = ([t.index_select(0, used) for t in kv] for kv in (cross_k, cross_v))
            mask = None if mask is None else mask.index_select(0, used)
        return DecoderCache(
            self_k=[t.index_select(0, index) for t in cache.self_k],
            self_v=[t.index_select(0, index) for t in cache.self_v],
            cross_k=cross_k, cross_v=cross_v, memory_padding_mask=mask, memory_rows=rows,
        )


def _rows_per_memory(memory_rows: torch.Tensor, groups: int) -> int | None:
    """r if memory_rows (N,) is [0]*r + [1]*r + ... + [groups-1]*r (the beam-search layout), else None."""
    if memory_rows.numel() % groups:
        return None
    per = memory_rows.numel() // groups
    expected = torch.arange(groups, device=memory_rows.device).repeat_interleave(per)
    return per if torch.equal(memory_rows, expected) else None

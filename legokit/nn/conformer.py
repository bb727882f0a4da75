"""Conformer encoder (Gulati et al., 2020) with full or restricted self-attention.

Positions are absolute by default (``pos_enc="abs"``): the caller adds sinusoidal positional encodings to
the input (e.g. after :class:`~legokit.nn.subsampling.Conv2dSubsampling`). With ``pos_enc="rel"`` the
self-attention is relative (Transformer-XL, as ESPnet's and icefall's Conformer recipes use) and the caller
adds no positions. Either way every layer may use restricted attention (Sharma et al., 2022: w = 40/60 per
layer for hours-long inputs); relative attention then sees only offsets -w..w and stays O(T·w).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from legokit.nn.attention import MultiHeadAttention, RelPositionMultiHeadAttention, rel_reach
from legokit.nn.dropout import Dropout
from legokit.nn.packing import Packing
from legokit.nn.positional import RelativePositionalEncoding
from legokit.nn.transformer import FeedForward, layer_windows


class _ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of a (B, D, T) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ConvolutionModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv (padding zeroed first), norm, SiLU, pointwise conv, dropout.

    The parameters are those of ``nn.Conv1d`` modules (the checkpoint format), but the computation stays in
    the (B, T, D) layout: the pointwise convolutions run as matmuls (``F.linear`` on the kernel-1 weights) and
    the depthwise convolution as a (K, 1) ``conv2d`` on the channels-last view of (B, T, D), which is the same
    memory, and BatchNorm sees (B·T, D) rows. On one CPU thread, forward + backward of 50 × 120 × 256, D = 256,
    K = 31: pointwise 79 -> 52 ms, depthwise 106 -> 13 ms (``nn.Conv1d``'s grouped kernel is a slow generic
    path), the whole module 257 -> 95 ms; outputs, gradients and running statistics are those of the Conv1d
    computation (tests/nn/test_conformer.py).

    Args:
        dim: model dimension D.
        kernel_size: depthwise kernel size (odd, so that the output stays aligned).
        dropout: dropout on the output.
        norm: "batch" (BatchNorm1d, as in the paper and ESPnet) or "layer" (LayerNorm, batch-size free).
    """

    def __init__(self, dim: int, kernel_size: int = 31, dropout: float = 0.1, norm: str = "batch") -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"conformer kernel_size must be odd, got {kernel_size}")
        if norm not in ("batch", "layer"):
            raise ValueError(f"conformer conv norm must be 'batch' or 'layer', got {norm!r}")
        self.pointwise_in = nn.Conv1d(dim, 2 * dim, 1)
        self.glu = nn.GLU(dim=1)
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.BatchNorm1d(dim) if norm == "batch" else _ChannelLayerNorm(dim)
        self.activation = nn.SiLU()
        self.pointwise_out = nn.Conv1d(dim, dim, 1)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D), padding_mask (B, T) True at padding -> (B, T, D)."""
        h = F.glu(F.linear(x, self.pointwise_in.weight.squeeze(-1), self.pointwise_in.bias), dim=-1)  # (B, T, D)
        if padding_mask is not None:
            h = h.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        dw = self.depthwise
        # (B, T, D) seen as a channels-last (B, D, T, 1) image: no copy in, none out
        h = F.conv2d(h.unsqueeze(2).permute(0, 3, 1, 2), dw.weight.unsqueeze(-1), dw.bias,
                     padding=(dw.padding[0], 0), groups=dw.groups)
        h = h.squeeze(-1).permute(0, 2, 1)  # (B, T, D) again
        if isinstance(self.norm, nn.BatchNorm1d):  # statistics over B and T, as on (B, D, T)
            h = self.norm(h.reshape(-1, h.size(-1))).view_as(h)
        else:
            h = F.layer_norm(h, self.norm.normalized_shape, self.norm.weight, self.norm.bias, self.norm.eps)
        h = self.activation(h)
        return self.dropout(F.linear(h, self.pointwise_out.weight.squeeze(-1), self.pointwise_out.bias))

    def forward_packed(self, x: torch.Tensor, packing: Packing) -> torch.Tensor:
        """Inference on the real frames only: x (N, D) packed -> (N, D). The pointwise convolutions, the norm
        (BatchNorm in eval is per-channel affine) and SiLU run on the N rows; only the depthwise convolution
        sees the padded (B, T, D) layout, with zeros at the padding as :meth:`forward` writes there."""
        h = F.glu(F.linear(x, self.pointwise_in.weight.squeeze(-1), self.pointwise_in.bias), dim=-1)  # (N, D)
        dw = self.depthwise
        h = packing.unpack(h)  # (B, T, D), zeros at the padding
        h = F.conv2d(h.unsqueeze(2).permute(0, 3, 1, 2), dw.weight.unsqueeze(-1), dw.bias,
                     padding=(dw.padding[0], 0), groups=dw.groups)
        h = packing.pack(h.squeeze(-1).permute(0, 2, 1))  # (N, D)
        if isinstance(self.norm, nn.BatchNorm1d):
            h = self.norm(h)
        else:
            h = F.layer_norm(h, self.norm.normalized_shape, self.norm.weight, self.norm.bias, self.norm.eps)
        h = self.activation(h)
        return F.linear(h, self.pointwise_out.weight.squeeze(-1), self.pointwise_out.bias)


class ConformerEncoderLayer(nn.Module):
    """Macaron FFN/2, self-attention (full or ±window), convolution module, FFN/2, LayerNorm (pre-norm).

    Args:
        dim: model dimension D.
        num_heads: attention heads.
        ffn_dim: feed-forward hidden size.
        kernel_size: depthwise convolution kernel size.
        dropout: dropout on residual branches and attention probabilities.
        window: None for full self-attention, w for restricted attention (query i sees keys i-w..i+w).
        conv_norm: "batch" or "layer" normalisation inside the convolution module.
        pos_enc: "abs" (positions in the input) or "rel" (relative self-attention; forward then needs ``pos``).
    """

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, kernel_size: int = 31, dropout: float = 0.1,
                 window: int | None = None, conv_norm: str = "batch", pos_enc: str = "abs") -> None:
        super().__init__()
        self.window = window
        self.norm_ffn1 = nn.LayerNorm(dim)
        self.ffn1 = FeedForward(dim, ffn_dim, dropout, nn.SiLU())
        self.norm_attn = nn.LayerNorm(dim)
        attention = RelPositionMultiHeadAttention if pos_enc == "rel" else MultiHeadAttention
        self.self_attn = attention(dim, num_heads, dropout)
        self.dropout = Dropout(dropout)
        self.norm_conv = nn.LayerNorm(dim)
        self.conv = ConvolutionModule(dim, kernel_size, dropout, conv_norm)
        self.norm_ffn2 = nn.LayerNorm(dim)
        self.ffn2 = FeedForward(dim, ffn_dim, dropout, nn.SiLU())
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None,
                pos: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D), padding_mask (B, T) True at padding -> (B, T, D).

        pos: for ``pos_enc="rel"``, the (2r + 1, D) relative sinusoids, r = ``rel_reach(T, self.window)``.
        """
        x = x + 0.5 * self.ffn1(self.norm_ffn1(x))
        h = self.norm_attn(x)
        if pos is None:
            h = self.self_attn(h, h, h, padding_mask, window=self.window)
        else:
            h = self.self_attn(h, pos, padding_mask, window=self.window)
        x = x + self.dropout(h)
        x = x + self.conv(self.norm_conv(x), padding_mask)
        x = x + 0.5 * self.ffn2(self.norm_ffn2(x))
        return self.norm_out(x)

    def forward_packed(self, x: torch.Tensor, packing: Packing, pos: torch.Tensor | None = None) -> torch.Tensor:
        """Inference on the real frames only: x (N, D) packed -> (N, D), the function of :meth:`forward` (dropout
        is the identity in eval). The position-wise parts (FFNs, norms, projections, pointwise convolutions) run
        on the N rows; full relative self-attention per utterance over its own frames; the depthwise convolution,
        and restricted or absolute-position attention, on the padded (B, T, D) layout."""
        x = x + 0.5 * self.ffn1(self.norm_ffn1(x))
        h = self.norm_attn(x)
        if pos is not None and self.window is None and not self.self_attn.training:
            h = self.self_attn.forward_packed(h, pos, packing.lengths)
        else:
            h = packing.unpack(h)
            h = self.self_attn(h, h, h, packing.mask, window=self.window) if pos is None else self.self_attn(
                h, pos, packing.mask, window=self.window)
            h = packing.pack(h)
        x = x + h
        x = x + self.conv.forward_packed(self.norm_conv(x), packing)
        x = x + 0.5 * self.ffn2(self.norm_ffn2(x))
        return self.norm_out(x)


class ConformerEncoder(nn.Module):
    """A stack of Conformer layers and a final LayerNorm; same interface as TransformerEncoder.

    Args:
        num_layers: number of layers.
        dim, num_heads, ffn_dim, kernel_size, dropout, conv_norm: as in :class:`ConformerEncoderLayer`.
        window: None (full attention), one window for all layers, or a list with one per layer.
        pos_enc: "abs" (the caller adds positions to x) or "rel" (relative self-attention in every layer).
    """

    def __init__(self, num_layers: int, dim: int, num_heads: int, ffn_dim: int, kernel_size: int = 31,
                 dropout: float = 0.1, window: int | list[int] | None = None,
                 conv_norm: str = "batch", pos_enc: str = "abs") -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            ConformerEncoderLayer(dim, num_heads, ffn_dim, kernel_size, dropout, w, conv_norm, pos_enc)
            for w in layer_windows(window, num_layers)
        )
        self.rel_pos = RelativePositionalEncoding(dim) if pos_enc == "rel" else None
        self.norm = nn.LayerNorm(dim)
        # evaluation without autograd runs a padded batch's real frames only (False: the training-path layout)
        self.packed_inference = True

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None,
                after_layer: Callable[[int, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """x (B, T, D), padding_mask (B, T) True at padding -> (B, T, D).

        ``after_layer(i, states)``, if given, runs after layer i (1-based) and returns the states layer i + 1
        reads (intermediate CTC, self-conditioning); states are (B, T, D), or the packed real frames (N, D) on
        the packed path, so the hook must be frame-wise.

        In evaluation without autograd (``packed_inference``) a padded batch (padding after each utterance's
        frames) takes :meth:`_forward_packed`: the same function on the real frames only, zeros at the padding."""
        if (padding_mask is not None and self.packed_inference and not self.training and not torch.is_grad_enabled()
                and not torch.compiler.is_compiling() and not torch.jit.is_tracing() and bool(padding_mask.any())):
            packing = Packing.of(padding_mask)
            if packing is not None:
                return self._forward_packed(x, packing, after_layer)
        for i, layer in enumerate(self.layers, start=1):
            pos = None if self.rel_pos is None else self.rel_pos(rel_reach(x.size(1), layer.window)).to(x.dtype)
            x = layer(x, padding_mask, pos)
            if after_layer is not None:
                x = after_layer(i, x)
        return self.norm(x)

    def _forward_packed(self, x: torch.Tensor, packing: Packing,
                        after_layer: Callable[[int, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D), zeros at the padding. The layers run on the real frames only: a
        length-bucketed batch of test utterances carries 20-30% padded frames, and relative self-attention over
        each utterance's own frames skips ~30% of the (B, H, T, 2T - 1) scores. The 40 test utterances of
        benchmarks/asr_encoder_espnet.py in decode's 4 batches (27% padding), 1 CPU thread: the encoder 2.55 ->
        2.00 CPU s; states within 1.5e-6 of the padded computation (tests/nn/test_conformer.py)."""
        h = packing.pack(x)
        for i, layer in enumerate(self.layers, start=1):
            pos = None if self.rel_pos is None else self.rel_pos(rel_reach(x.size(1), layer.window)).to(x.dtype)
            h = layer.forward_packed(h, packing, pos)
            if after_layer is not None:
                h = after_layer(i, h)  # (N, D): the hook is frame-wise
        return packing.unpack(self.norm(h))


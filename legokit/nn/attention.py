"""Multi-head attention: full (fused ``scaled_dot_product_attention``) and restricted (sliding window).

Restricted self-attention (Sharma et al., ICASSP 2022; Longformer without global tokens): query i sees
keys i-w..i+w. :func:`restricted_attention` computes it block by block so that time and memory are
O(T·w) instead of O(T²): the sequence is cut into blocks of ``block_size`` positions and each query block
attends, through the fused attention kernel, to its own key block and ``ceil(w / block_size)`` blocks on
each side, with a static band mask.

Relative positional self-attention (Transformer-XL, Dai et al., 2019; ESPnet's ``RelPositionMultiHeadedAttention``
as the Conformer uses it): :class:`RelPositionMultiHeadAttention` scores key j for query i as
((q_i + u)·k_j + (q_i + v)·p_{i-j}) / √Dh, where p_{i-j} is a projected sinusoid of the offset and u, v are
learned per head. The positional term goes into the fused kernel as an additive float mask; with restricted
attention only offsets -w..w exist, so it is a (2w + 1)-wide band computed and placed block by block, O(T·w).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from legokit.nn.dropout import dropout


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scaled dot-product attention, softmax(q·kᵀ/√Dh + bias)·v: q (..., Tq, Dh), k, v (..., Tk, Dh) -> (..., Tq, Dh).

    attn_mask: bool, broadcastable to (..., Tq, Tk), True where attention is allowed; a query with no allowed
    key gets zeros. bias: float scores (..., Tq, Tk) added before the softmax (a relative-position term).
    Without dropout, or off the CPU, this is the fused ``F.scaled_dot_product_attention``; with
    dropout on CPU (where that kernel falls back to the same unfused computation) the probabilities are
    dropped with :func:`legokit.nn.dropout.dropout`'s cheaper mask.
    """
    if bias is not None:
        attn_mask = bias if attn_mask is None else bias.masked_fill(~attn_mask, float("-inf"))
    if dropout_p == 0.0 or q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
    scores = torch.matmul(q, k.transpose(-2, -1)) * (q.size(-1) ** -0.5)
    if attn_mask is None:
        return torch.matmul(dropout(torch.softmax(scores, dim=-1), dropout_p), v)
    if attn_mask.is_floating_point():  # additive scores, -inf where not allowed
        has_key = (attn_mask > float("-inf")).any(dim=-1, keepdim=True)
        probs = torch.softmax(scores + attn_mask.masked_fill(~has_key, 0.0), dim=-1)
        return torch.matmul(dropout(probs * has_key, dropout_p), v)
    has_key = attn_mask.any(dim=-1, keepdim=True)  # rows without any key: softmax over all, then zeroed
    probs = torch.softmax(scores.masked_fill(~(attn_mask | ~has_key), float("-inf")), dim=-1)
    return torch.matmul(dropout(probs * has_key, dropout_p), v)


def _band_mask(block: int, span: int, reach: int, window: int, device: torch.device) -> torch.Tensor:
    """(block, span) bool, True where key slot s of a block's key span is within ±window of query r."""
    query = torch.arange(block, device=device).unsqueeze(1)
    key = torch.arange(span, device=device).unsqueeze(0) - reach
    return (key - query).abs() <= window


def restricted_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    key_padding_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    block_size: int | None = None,
    rel_scores: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sliding-window attention: query i attends to keys i-window..i+window, in O(T·window).

    Args:
        q, k, v: (B, H, T, Dh) projected queries, keys, values of one sequence (self-attention).
        window: w >= 0, how many keys on each side a query sees.
        key_padding_mask: (B, T) bool, True at padding (those keys are never attended to).
        dropout_p: attention-probability dropout (pass 0 at evaluation).
        block_size: positions per block (default w, at least 1); each block reads n = ceil(w / block_size)
            neighbour blocks on each side, so the work is (2n + 1)·block_size keys per query.
        rel_scores: (B, H, T, 2·window + 1) float scores added to the band: [..., i, window + j - i] for key j
            (a relative-position term, already scaled); placed into each block's key span by a gather.

    Returns:
        (B, H, T, Dh); softmax scaled by 1/sqrt(Dh). Rows with no valid key are zeros.
    """
    batch, heads, length, head_dim = q.shape
    if length == 0:
        return q.new_zeros(q.shape)
    block = min(block_size or max(window, 1), length)
    look = math.ceil(window / block)  # neighbour blocks on each side
    num_blocks = math.ceil(length / block)
    tail = num_blocks * block - length
    reach = look * block
    span = (2 * look + 1) * block

    q_blocks = F.pad(q, (0, 0, 0, tail)).view(batch, heads, num_blocks, block, head_dim).transpose(1, 2)
    k_spans = F.pad(k, (0, 0, reach, reach + tail)).unfold(2, span, block)  # (B, H, N, Dh, span)
    v_spans = F.pad(v, (0, 0, reach, reach + tail)).unfold(2, span, block)
    k_spans = k_spans.permute(0, 2, 1, 4, 3).reshape(batch * num_blocks, heads, span, head_dim)
    v_spans = v_spans.permute(0, 2, 1, 4, 3).reshape(batch * num_blocks, heads, span, head_dim)

    valid = torch.ones(batch, length, dtype=torch.bool, device=q.device)
    if key_padding_mask is not None:
        valid = ~key_padding_mask
    valid = F.pad(valid, (reach, reach + tail), value=False).unfold(1, span, block)  # (B, N, span)
    mask = _band_mask(block, span, reach, window, q.device) & valid.unsqueeze(2)  # (B, N, block, span)
    bias = None
    if rel_scores is not None:  # offset index window + j - i of query slot r, key slot s (clamped off the band)
        slot = torch.arange(span, device=q.device) - torch.arange(block, device=q.device).unsqueeze(1)
        index = (slot + window - reach).clamp(0, 2 * window).expand(batch, heads, num_blocks, block, span)
        bands = F.pad(rel_scores, (0, 0, 0, tail)).view(batch, heads, num_blocks, block, 2 * window + 1)
        bias = bands.gather(-1, index).transpose(1, 2).reshape(batch * num_blocks, heads, block, span)

    out = attention(
        q_blocks.reshape(batch * num_blocks, heads, block, head_dim),
        k_spans,
        v_spans,
        attn_mask=mask.view(batch * num_blocks, 1, block, span),
        dropout_p=dropout_p,
        bias=bias,
    )  # (B*N, H, block, Dh)
    out = out.view(batch, num_blocks, heads, block, head_dim).transpose(1, 2)
    return out.reshape(batch, heads, num_blocks * block, head_dim)[:, :, :length]


class MultiHeadAttention(nn.Module):
    """Multi-head attention with full or restricted (windowed) attention.

    Args:
        dim: model dimension D (a multiple of num_heads).
        num_heads: H; each head has Dh = D / H dimensions.
        dropout: dropout on the attention probabilities.
        bias: whether the projections have biases.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim, bias=bias)
        self.k_proj = nn.Linear(dim, dim, bias=bias)
        self.v_proj = nn.Linear(dim, dim, bias=bias)
        self.out_proj = nn.Linear(dim, dim, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, H, T, Dh), a view."""
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

    def project_kv(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """key, value (B, Tk, D) -> projected k, v, each (B, H, Tk, Dh) (cacheable by a decoder)."""
        return self.split_heads(self.k_proj(key)), self.split_heads(self.v_proj(value))

    def fused_qkv(self) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        """The q, k, v projections as one: weight (3D, D), bias (3D,) or None, for :meth:`project_qkv`.

        A copy, so take it again after the parameters change; None when a projection has no plain weight
        tensor (e.g. a dynamically quantized Linear), which :meth:`project_qkv` then runs one by one.
        """
        projections = (self.q_proj, self.k_proj, self.v_proj)
        if not all(isinstance(getattr(p, "weight", None), torch.Tensor) for p in projections):
            return None
        weight = torch.cat([p.weight for p in projections])
        bias = None if self.q_proj.bias is None else torch.cat([p.bias for p in projections])
        return weight, bias

    def project_qkv(self, x: torch.Tensor, fused: tuple[torch.Tensor, torch.Tensor | None] | None) -> torch.Tensor:
        """x (B, T, D) -> q, k, v projections side by side (B, T, 3D); one matmul with ``fused_qkv()``."""
        if fused is None:
            return torch.cat([p(x) for p in (self.q_proj, self.k_proj, self.v_proj)], dim=-1)
        return F.linear(x, *fused)

    def attend(
        self,
        query: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        window: int | None = None,
    ) -> torch.Tensor:
        """query (B, Tq, D) attends to projected k, v (B, H, Tk, Dh) -> (B, Tq, D).

        key_padding_mask (B, Tk) is True at padding. causal lets query i (aligned to the end of the keys,
        so Tq < Tk works for incremental decoding) see keys up to Tk - Tq + i. window (self-attention,
        Tq == Tk, not causal) restricts query i to keys i-window..i+window.
        """
        return self.attend_heads(self.split_heads(self.q_proj(query)), k, v, key_padding_mask, causal, window)

    def attend_heads(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        window: int | None = None,
    ) -> torch.Tensor:
        """:meth:`attend` with the query already projected: q (B, H, Tq, Dh), k, v (B, H, Tk, Dh) -> (B, Tq, D)."""
        dropout_p = self.dropout if self.training else 0.0
        if window is not None:
            if causal:
                raise ValueError("restricted attention is bidirectional; causal=True is not supported")
            out = restricted_attention(q, k, v, window, key_padding_mask, dropout_p)
        else:
            out = attention(
                q, k, v, attn_mask=_attention_mask(key_padding_mask, causal, q.size(2), k.size(2), q.device),
                dropout_p=dropout_p,
            )
        return self.out_proj(out.transpose(1, 2).flatten(2))

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        window: int | None = None,
    ) -> torch.Tensor:
        """query (B, Tq, D), key/value (B, Tk, D) -> (B, Tq, D); see :meth:`attend` for the masks."""
        k, v = self.project_kv(key, value)
        return self.attend(query, k, v, key_padding_mask, causal, window)


def _attention_mask(
    key_padding_mask: torch.Tensor | None, causal: bool, q_len: int, k_len: int, device: torch.device
) -> torch.Tensor | None:
    """Boolean attend-mask broadcastable to (B, H, Tq, Tk), True where attention is allowed, or None."""
    mask = None
    if key_padding_mask is not None:
        mask = ~key_padding_mask[:, None, None, :]
    if causal:
        allowed = torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len)
        mask = allowed if mask is None else mask & allowed
    return mask


def rel_shift(scores: torch.Tensor) -> torch.Tensor:
    """(..., T, 2r + 1) scores by offset, [..., i, r + j - i] (r >= T - 1), -> (..., T, T) scores by key j.

    Transformer-XL's skew: pad one column, read the flat rows with a stride one shorter, keep T columns.
    """
    length, width = scores.shape[-2:]
    reach = width // 2
    flat = F.pad(scores, (0, 1)).flatten(-2)[..., reach: reach + length * width]
    return flat.unflatten(-1, (length, width))[..., :length]


def rel_shift_view(scores: torch.Tensor) -> torch.Tensor:
    """:func:`rel_shift` without the padded copy: a strided view of (contiguous) ``scores`` whose row i starts
    at column r - i, i.e. element (i, j) is scores[..., i, r + j - i]. The same values; the view shares
    ``scores``' memory (rows overlap none of each other's elements), so it is for inference, not autograd."""
    length, width = scores.shape[-2:]
    scores = scores.contiguous()
    return scores.as_strided((*scores.shape[:-2], length, length), (*scores.stride()[:-2], width - 1, 1),
                             scores.storage_offset() + width // 2)


class RelPositionMultiHeadAttention(MultiHeadAttention):
    """Self-attention with relative positions (Transformer-XL; ESPnet's Conformer), full or restricted.

    Adds to :class:`MultiHeadAttention` a bias-free projection of the relative sinusoids and the per-head
    biases u (content) and v (position), initialised as ESPnet does (Xavier uniform).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__(dim, num_heads, dropout, bias)
        self.linear_pos = nn.Linear(dim, dim, bias=False)
        self.pos_bias_u = nn.Parameter(torch.empty(num_heads, dim // num_heads))
        self.pos_bias_v = nn.Parameter(torch.empty(num_heads, dim // num_heads))
        nn.init.xavier_uniform_(self.pos_bias_u)
        nn.init.xavier_uniform_(self.pos_bias_v)

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        pos: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        window: int | None = None,
    ) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D).

        pos: (2r + 1, D) sinusoids of i - j = r..-r (:class:`~legokit.nn.positional.RelativePositionalEncoding`),
        r = :func:`rel_reach` (T, window). key_padding_mask (B, T) True at padding; window as in :meth:`attend`.
        """
        q = self.split_heads(self.q_proj(x))
        k, v = self.project_kv(x, x)
        p = self.split_heads(self.linear_pos(pos).unsqueeze(0))  # (1, H, 2r + 1, Dh)
        scale = q.size(-1) ** -0.5
        if (window is None and not self.training and not torch.is_grad_enabled()
                and not torch.compiler.is_compiling()):  # inference: the same scores, fewer passes
            return self._full_inference(q, k, v, p * scale, key_padding_mask)
        rel = torch.matmul(q + self.pos_bias_v.unsqueeze(1), p.transpose(-2, -1)) * scale  # (B, H, T, 2r + 1)
        q = q + self.pos_bias_u.unsqueeze(1)
        dropout_p = self.dropout if self.training else 0.0
        if window is None:
            mask = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
            out = attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, bias=rel_shift(rel))
        else:
            out = restricted_attention(q, k, v, rel_reach(x.size(1), window), key_padding_mask, dropout_p,
                                       rel_scores=rel)
        return self.out_proj(out.transpose(1, 2).flatten(2))

    def _full_inference(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: torch.Tensor,
                        key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        """Full attention in evaluation without autograd: q, k, v (B, H, T, Dh), p (1, H, 2T - 1, Dh) already scaled by
        1/√Dh -> (B, T, D). The same scores as the training path with two passes fewer over the (B, H, T, 2T - 1)
        positional scores: the scale is applied to p (exact when Dh is a power of 4, 1/√Dh then being a power of
        2; else within rounding), the skew is a view, the padding -inf is written into it in place. The 12
        self-attention modules of a d 256 Conformer over 40 length-bucketed test utterances, 1 CPU thread:
        0.78 -> 0.61 s (benchmarks/asr_encoder_espnet.py)."""
        rel = torch.matmul(q + self.pos_bias_v.unsqueeze(1), p.transpose(-2, -1))  # (B, H, T, 2T - 1)
        bias = rel_shift_view(rel)  # (B, H, T, T), a view of rel
        if key_padding_mask is not None:
            bias = bias.masked_fill_(key_padding_mask[:, None, None, :], float("-inf"))
        out = F.scaled_dot_product_attention(q + self.pos_bias_u.unsqueeze(1), k, v, attn_mask=bias)
        return self.out_proj(out.transpose(1, 2).flatten(2))

    def forward_packed(self, x: torch.Tensor, pos: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        """Full self-attention in evaluation without autograd over packed utterances: x (N, D), the rows of
        utterances of ``lengths`` (summing to N) one after another -> (N, D). The projections run on the N rows,
        the scores of each utterance over its own T frames (no padded keys: a length-bucketed batch's
        (B, H, T, 2T - 1) positional scores are ~30% padding); as :meth:`_full_inference` per utterance.
        pos (2r + 1, D) as in :meth:`forward`, r >= max(lengths) - 1."""
        heads, reach = self.num_heads, pos.size(0) // 2
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)  # (N, D) each
        q_u, q_v = q + self.pos_bias_u.flatten(), q + self.pos_bias_v.flatten()
        p = self.linear_pos(pos).unflatten(-1, (heads, -1)).transpose(0, 1) * (q.size(-1) // heads) ** -0.5
        out = torch.empty_like(q)
        start = 0
        for length in lengths:
            if length == 0:
                continue
            rows = slice(start, start + length)
            q_u_i, q_v_i, k_i, v_i = (t[rows].unflatten(-1, (heads, -1)).transpose(0, 1)
                                      for t in (q_u, q_v, k, v))  # (H, T, Dh)
            rel = torch.matmul(q_v_i, p[:, reach - length + 1: reach + length].transpose(-2, -1))  # (H, T, 2T - 1)
            att = F.scaled_dot_product_attention(q_u_i[None], k_i[None], v_i[None],
                                                 attn_mask=rel_shift_view(rel)[None])  # (1, H, T, Dh)
            out[rows] = att[0].transpose(0, 1).flatten(1)
            start += length
        return self.out_proj(out)


def rel_reach(length: int, window: int | None) -> int:
    """The largest offset |i - j| that self-attention over ``length`` positions with ``window`` can see."""
    reach = max(length - 1, 0)
    return reach if window is None else min(window, reach)

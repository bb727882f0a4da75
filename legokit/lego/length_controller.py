"""Output length controller (OLC): re-samples a state sequence to K = ⌊r·T⌋ positions.

CTC needs at least as many output positions as target tokens (plus repeats), so an MT encoder
upsamples its source states (r ≈ 2–3) and a speech encoder may compress (r < 1). Queries at K
positions (learned + sinusoidal position embeddings) attend to the input states through non-causal
decoder-style layers: self-attention among queries, cross-attention to the input, FFN.
With ``queries="copy"`` each query also starts from the input state it maps to (position k reads
state ⌊k/r⌋, the "uniform copy" of non-autoregressive MT, Gu et al. 2018; Libovický & Helcl 2018), so the
layers refine content instead of having to find it from positions alone: CTC on the interface then
learns several times faster. ``queries="position"`` is the position-only variant.
r is a brick hyper-parameter that may be changed when composing bricks (``set_rate``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from legokit.nn.masks import padding_mask
from legokit.nn.positional import sinusoidal_table
from legokit.nn.transformer import TransformerDecoder


def output_lengths(lengths: Tensor, rate: float) -> Tensor:
    """K = max(1, ⌊r·T⌋) per utterance: (B,) -> (B,)."""
    return torch.clamp(torch.floor(lengths.double() * rate).long(), min=1)


class OutputLengthController(nn.Module):
    """Queries at ⌊r·T⌋ positions attending to (B, T, D) input states.

    Args:
        dim: state size D.
        rate: length rate r (K = ⌊r·T⌋).
        num_layers: non-causal decoder-style layers.
        max_positions: size of the learned position table; longer outputs reuse its last row
            (the sinusoidal part still distinguishes them).
        queries: "position" (position embeddings only) or "copy" (plus the input state ⌊k/r⌋).
    """

    def __init__(self, dim: int, rate: float, num_layers: int = 2, num_heads: int = 4, ffn_dim: int = 1024,
                 dropout: float = 0.1, max_positions: int = 1024, queries: str = "position") -> None:
        super().__init__()
        if queries not in ("position", "copy"):
            raise ValueError(f"OLC queries must be 'position' or 'copy', got {queries!r}")
        self.queries = queries
        self.rate = rate
        self.dim = dim
        self.learned = nn.Embedding(max_positions, dim)
        nn.init.normal_(self.learned.weight, std=dim**-0.5)
        self.layers = TransformerDecoder(num_layers, dim, num_heads, ffn_dim, dropout=dropout, causal=False)

    def set_rate(self, rate: float) -> None:
        """Change r (e.g. when composing with a decoder trained on other interface lengths)."""
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"length rate must be a positive number, got {rate}")
        self.rate = rate

    def forward(self, states: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """states (B, T, D), lengths (B,) -> (queries attended (B, K, D), output lengths (B,))."""
        out_lengths = output_lengths(lengths, self.rate)
        # K_max from the padded length T (= max(lengths) for a collated batch): a shape, not data, so
        # torch.export / ONNX see a symbolic size and training does not wait for a device sync
        k_max = max(1, math.floor(states.size(1) * self.rate))
        positions = torch.arange(k_max, device=states.device)
        learned = self.learned(positions.clamp(max=self.learned.num_embeddings - 1))
        table = sinusoidal_table(k_max, self.dim, states.device).to(states)
        queries = (learned + table)[None].expand(states.size(0), -1, -1)
        if self.queries == "copy":
            # query k of utterance b starts from state min(floor(k / r), T_b - 1): (B, K) indices
            source = torch.floor(positions.double() / self.rate).long()[None, :]
            source = torch.minimum(source, (lengths - 1).clamp(min=0)[:, None])
            queries = queries + states.gather(1, source[..., None].expand(-1, -1, states.size(-1)))
        memory_mask = padding_mask(lengths, states.size(1))
        query_mask = positions[None, :] >= out_lengths[:, None]
        out = self.layers(queries, states, memory_mask, padding_mask=query_mask)
        return out.masked_fill(query_mask[..., None], 0.0), out_lengths

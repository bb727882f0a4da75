"""The decoder-side protocol of the search: what a model implements so `beam_search` can drive it.

A decoder is stepped on N = batch × beam rows at once. Its state is whatever it needs to carry
between steps (cached keys/values, RNN hidden states, the encoder memory); the search only ever
asks the decoder to reorder that state when hypotheses are pruned, expanded or dropped.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class StepDecoder(Protocol):
    """An autoregressive decoder stepped one token at a time over N rows."""

    def init_state(self, memory: Tensor, memory_padding_mask: Tensor) -> Any:
        """memory (N, S, D), memory_padding_mask (N, S) bool True at padding -> decoder state."""

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """tokens (N, U) the whole prefix so far, starting with bos -> (log_probs (N, V) for the next
        token, new state). Implementations may cache and only look at tokens[:, -1]."""

    def reorder_state(self, state: Any, index: Tensor) -> Any:
        """Select/reorder rows of the state: index (N',) long into the N rows. The given state may be
        consumed (its buffers reused for the result): the search only uses the returned one."""


def reorder_nested(state: Any, index: Tensor) -> Any:
    """`index_select` every tensor of a nested dict/list/tuple along dim 0; other leaves are kept.

    state: tensors with N rows on dim 0, possibly nested; index (N',) long -> the same structure
    with N' rows. Decoders whose state is such a structure can implement `reorder_state` with it.
    """
    if isinstance(state, Tensor):
        return state.index_select(0, index)
    if isinstance(state, dict):
        return {key: reorder_nested(value, index) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        items = [reorder_nested(value, index) for value in state]
        return type(state)(*items) if hasattr(state, "_fields") else type(state)(items)
    return state

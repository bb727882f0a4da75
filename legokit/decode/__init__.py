"""legokit.decode: batched beam search, greedy search, CTC greedy decoding, CTC prefix scoring, and CTC prefix
beam search with a word n-gram LM."""

from legokit.decode.beam_search import BeamSearchConfig, Hypothesis, beam_search, greedy_search
from legokit.decode.ctc import CTCPrefixScorer, CTCPrefixState, ctc_greedy
from legokit.decode.ctc_lm import CTCLMConfig, CTCLMDecoder
from legokit.decode.protocol import StepDecoder, reorder_nested

__all__ = [
    "BeamSearchConfig",
    "CTCLMConfig",
    "CTCLMDecoder",
    "CTCPrefixScorer",
    "CTCPrefixState",
    "Hypothesis",
    "StepDecoder",
    "beam_search",
    "ctc_greedy",
    "greedy_search",
    "reorder_nested",
]

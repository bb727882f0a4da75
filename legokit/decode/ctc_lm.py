"""CTC prefix beam search with shallow fusion of a word n-gram LM, for CTC-only models (no decoder).

The search (Hannun et al. 2014, "First-pass large vocabulary continuous speech recognition using
bi-directional recurrent DNNs"; the scoring of pyctcdecode) runs frame by frame over the CTC posteriors of one
utterance and keeps ``beam`` output prefixes. Each prefix has the CTC probabilities p_b / p_nb of all alignments
of its frames so far that collapse to it and end in a blank / in its last token, and the LM part of its score:

    score = ln(p_b + p_nb) + alpha * ln P_lm(completed words) + beta * (number of completed words)
            + alpha * partial_oov * max(1, len / 6)   (while the unfinished word is no prefix of any LM word)
            + alpha * oov_word per finished word the LM does not know

Words are the tokenizer's pieces between word boundaries: a piece starting with "▁" (sentencepiece's space:
the piece "▁" of a character model, or "▁the" of a BPE model) ends the word before it and starts a new one. A
finished word is scored in the ASR scoring form (:func:`legokit.corpora.text.asr_normalise`), so a cased model
with punctuation decodes with an LM of lower-cased words: "ALSA's," is the LM word "alsa's", "plug-in" the two
words "plug in", and "," alone no word at all. At the last frame the unfinished word and ``</s>`` are scored.

Of the prefixes that share the LM context (last order - 1 words), the unfinished word and the last token only the
best is kept (pyctcdecode's history pruning): their future scores are alike, so the beam holds distinct
hypotheses. With ``alpha = beta = 0`` the LM plays no part and the search is a plain CTC prefix beam search
(the most probable output labelling, within the beam).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from legokit.config import ranged
from legokit.corpora.text import asr_normalise
from legokit.errors import LegokitError
from legokit.lm.ngram import BOS, EOS, ArpaLM

NEG_INF = float("-inf")
SPACE = "\u2581"  # sentencepiece's word-boundary mark


@dataclass
class CTCLMConfig:
    """``ctc_lm`` of a decode config: CTC prefix beam search with a word n-gram LM (CTC-only models)."""

    arpa: str = ""  # the ARPA file of the LM (`legokit lm train`); required
    alpha: float = ranged(0.5, "[0, inf)")  # LM weight on ln P_lm
    beta: float = 1.0  # bonus per word (natural-log units)
    beam: int = ranged(32, "[1, inf)")  # prefixes kept per frame
    token_min_logp: float = ranged(-5.0, "(-inf, 0]")
    """A token enters a frame's extensions if its log-posterior there is at least this (the frame's best always
    does): frames where the blank is certain cost one update per prefix."""
    partial_oov: float = ranged(-20.0, "(-inf, 0]")
    """Score (times alpha, and times len/6 for an unfinished word longer than 6 characters) of a prefix while its
    unfinished word is no prefix of any LM word (pyctcdecode's partial-word score): spellings that lead nowhere
    fall out of the beam before the word ends, and long run-together words are costly."""
    prune_logp: float | None = ranged(None, "(-inf, 0)")
    """Skip a token extension whose CTC path score plus its prefix's LM part is this far (natural log) below the
    best prefix of the frame before (pyctcdecode's beam_prune_logp, -10 there); None: extend every candidate.
    The search's time goes into extensions that never make the beam; this drops them before they are built."""
    oov_word: float = ranged(-23.0, "(-inf, 0]")
    """Added to ln P_lm (so times alpha) of a finished word the LM does not know, beside the LM's own <unk>
    probability (pyctcdecode's unk_score_offset, -10 in log10 units)."""

    def validate(self) -> None:
        if not self.arpa:
            raise LegokitError("ctc_lm.arpa is required: the ARPA file of a word n-gram LM (`legokit lm train`)")


class _Prefix:
    __slots__ = ("tokens", "last", "p_b", "p_nb", "lm_score", "context", "partial", "lm_part")

    def __init__(self, tokens: tuple[int, ...], last: int, lm_score: float, context: tuple[str, ...],
                 partial: str, partial_score: float = 0.0) -> None:
        self.tokens, self.last = tokens, last
        self.p_b = self.p_nb = NEG_INF
        self.lm_score, self.context, self.partial = lm_score, context, partial  # completed words; LM state
        self.lm_part = lm_score + partial_score  # what ranks the prefix besides its CTC probability


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


class CTCLMDecoder:
    """Prefix beam search over one utterance's CTC log-posteriors with an optional ARPA LM.

    ``pieces`` are the tokenizer's pieces (id -> string); ``blank`` the CTC blank; ``skip`` ids that emit no
    text (unk, bos, eos). ``lm`` None searches without an LM (alpha and beta then do nothing).
    """

    def __init__(self, pieces: list[str], blank: int, cfg: CTCLMConfig, lm: ArpaLM | None,
                 skip: tuple[int, ...] = ()) -> None:
        self.cfg, self.lm, self.blank = cfg, lm, blank
        self.starts_word = [p.startswith(SPACE) for p in pieces]
        self.text = ["" if i in skip or i == blank else p.lstrip(SPACE) if p.startswith(SPACE) else p
                     for i, p in enumerate(pieces)]
        self.prefixes: set[str] = set()
        if lm is not None:
            for word in lm.vocab:
                self.prefixes.update(word[:i] for i in range(1, len(word) + 1))
        self._words: dict[str, list[str]] = {}
        self._partial: dict[str, float] = {}
        # with the LM in play, of prefixes with the same LM context, unfinished word and last token only the best
        # is kept: their futures score alike, so the others could hardly overtake it (pyctcdecode's history pruning)
        self.recombine = lm is not None and (cfg.alpha != 0 or cfg.beta != 0)

    def _lm_words(self, text: str) -> list[str]:
        if text.isalnum():  # letters and digits only: the scoring form is the lower-cased word
            return [text.lower()]
        words = self._words.get(text)
        if words is None:
            words = self._words[text] = asr_normalise(text).split()
        return words

    def _score_words(self, text: str, context: tuple[str, ...]) -> tuple[float, tuple[str, ...]]:
        """(alpha * ln P_lm + beta * words, new context) of the finished word ``text`` after ``context``."""
        score = 0.0
        for word in self._lm_words(text) if text else ():
            oov = self.cfg.oov_word if word not in self.lm.vocab else 0.0
            score += self.cfg.alpha * (self.lm.logp(word, context) + oov) + self.cfg.beta
            context = self.lm.state((*context, word))
        return score, context

    def _partial_score(self, partial: str) -> float:
        if not partial or self.cfg.alpha == 0:
            return 0.0
        cached = self._partial.get(partial)
        if cached is not None:
            return cached
        word = partial.lower() if partial.isalnum() else " ".join(self._lm_words(partial))
        score = 0.0
        if word and not all(w in self.prefixes for w in word.split()):
            score = self.cfg.alpha * self.cfg.partial_oov * max(1.0, len(word) / 6)
        if len(self._partial) < 1_000_000:
            self._partial[partial] = score
        return score

    def _extend(self, prefix: _Prefix, token: int) -> _Prefix:
        """The prefix + token, its LM part updated (CTC probabilities still -inf)."""
        text, tokens = self.text[token], (*prefix.tokens, token)
        if self.lm is None:
            return _Prefix(tokens, token, 0.0, (), "")
        if self.starts_word[token]:
            score, context = self._score_words(prefix.partial, prefix.context)
            return _Prefix(tokens, token, prefix.lm_score + score, context, text, self._partial_score(text))
        if not text:
            partial_score = prefix.lm_part - prefix.lm_score
            return _Prefix(tokens, token, prefix.lm_score, prefix.context, prefix.partial, partial_score)
        partial = prefix.partial + text
        return _Prefix(tokens, token, prefix.lm_score, prefix.context, partial, self._partial_score(partial))

    @staticmethod
    def _total(prefix: _Prefix) -> float:
        return _logaddexp(prefix.p_b, prefix.p_nb) + prefix.lm_part

    def decode(self, log_probs: np.ndarray) -> tuple[list[int], float, float]:
        """log_probs (T, V) of one utterance (valid frames only) -> (tokens, score with the LM, CTC log-probability
        of the tokens as the whole output)."""
        cfg, blank = self.cfg, self.blank
        context = self.lm.state((BOS,)) if self.lm is not None else ()
        empty = _Prefix((), -1, 0.0, context, "")
        empty.p_b = 0.0
        beams: list[_Prefix] = [empty]
        prune = cfg.prune_logp if cfg.prune_logp is not None else NEG_INF
        for frame in log_probs:
            floor = self._total(beams[0]) + prune  # beams are ranked: the best first
            candidates = np.flatnonzero(frame >= cfg.token_min_logp)
            if candidates.size == 0:
                candidates = np.array([int(frame.argmax())])
            y = frame.tolist()
            nxt: dict[tuple[int, ...], _Prefix] = {}
            for prefix in beams:
                total = _logaddexp(prefix.p_b, prefix.p_nb)
                stay = nxt.get(prefix.tokens)
                if stay is None:
                    stay = nxt[prefix.tokens] = _Prefix(prefix.tokens, prefix.last, prefix.lm_score, prefix.context,
                                                         prefix.partial, prefix.lm_part - prefix.lm_score)
                stay.p_b = _logaddexp(stay.p_b, total + y[blank])  # blank: same prefix, ends in blank
                if prefix.last >= 0:  # repeat of the last token without a blank between: same prefix
                    stay.p_nb = _logaddexp(stay.p_nb, prefix.p_nb + y[prefix.last])
                for c in candidates.tolist():
                    if c == blank:
                        continue
                    # a repeat needs a blank in between; anything else extends from both endings
                    source = prefix.p_b if c == prefix.last else total
                    if source == NEG_INF or source + y[c] + prefix.lm_part < floor:
                        continue
                    key = (*prefix.tokens, c)
                    child = nxt.get(key)
                    if child is None:
                        child = nxt[key] = self._extend(prefix, c)
                    child.p_nb = _logaddexp(child.p_nb, source + y[c])
            ranked = sorted(nxt.values(), key=self._total, reverse=True)
            if self.recombine:
                beams, seen = [], set()
                for prefix in ranked:
                    key = (prefix.context, prefix.partial, prefix.last)
                    if key not in seen:
                        seen.add(key)
                        beams.append(prefix)
                        if len(beams) == cfg.beam:
                            break
            else:
                beams = ranked[:cfg.beam]
        best, best_score, best_ctc = [], NEG_INF, NEG_INF
        for prefix in beams:
            ctc = _logaddexp(prefix.p_b, prefix.p_nb)
            score = ctc + prefix.lm_score
            if self.lm is not None:
                words, context = self._score_words(prefix.partial, prefix.context)
                score += words + cfg.alpha * self.lm.logp(EOS, context)
            if score > best_score:
                best, best_score, best_ctc = list(prefix.tokens), score, ctc
        return best, best_score, best_ctc

    def decode_batch(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[tuple[list[int], float, float]]:
        """log_probs (B, T, V), lengths (B,) -> one :meth:`decode` result per utterance."""
        array = log_probs.detach().float().cpu().numpy()
        return [self.decode(array[b, :int(n)]) for b, n in enumerate(lengths.tolist())]

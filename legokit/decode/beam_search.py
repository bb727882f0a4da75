"""Batched beam search over a `StepDecoder`, with optional joint CTC/attention scoring.

All B utterances × beam hypotheses are one tensor batch per decoder step; utterances that are done
are dropped from the batch (the decoder state is reordered to the remaining rows), so the cost
follows the hypotheses still searching. See docs/decoding.md for the options and conventions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from legokit.data.vocab import VocabularyInfo
from legokit.decode.ctc import CTCCandidates, CTCPrefixScorer, CTCPrefixState
from legokit.decode.protocol import StepDecoder
from legokit.errors import LegokitError

NEG_INF = float("-inf")
EARLY_STOP = ("beam", "bound", "none")


@dataclass
class BeamSearchConfig:
    """Options of `beam_search` (YAML section `decode`)."""

    # Hypotheses kept per utterance; 1 with ctc_weight 0 runs plain greedy search.
    beam_size: int = 5
    # Hypotheses returned per utterance (<= beam_size), best first.
    nbest: int = 1
    # Final score = sum of log-probs / (output length incl. eos) ** length_penalty (fairseq); 0 = raw sum.
    length_penalty: float = 1.0
    # Max output tokens (excl. eos) = min(int(max_len_ratio * source_length + max_len_offset), max_len)
    # (fairseq's max_len_a / max_len_b).
    max_len_ratio: float = 1.0
    # See max_len_ratio.
    max_len_offset: int = 10
    # Absolute cap on output tokens (excl. eos) whatever the source length, so one long input cannot run for
    # hours (fairseq caps at the decoder's max_positions, 1024 by default).
    max_len: int = 1024
    # Min output tokens (excl. eos) = int(min_len_ratio * source_length); eos is banned before that.
    min_len_ratio: float = 0.0
    # lambda of the joint score (1 - lambda) * attention + lambda * CTC prefix score (ESPnet); 0 = no CTC.
    ctc_weight: float = 0.0
    # With 0 < ctc_weight < 1, CTC scores only the int(ratio * beam_size) best attention candidates per
    # hypothesis (ESPnet's pre-beam); ctc_weight 1 scores the whole vocabulary.
    ctc_pre_beam_ratio: float = 1.5
    # Ban any n-gram of this size from occurring twice in a hypothesis (fairseq); 0 = off.
    no_repeat_ngram_size: int = 0
    # When an utterance stops before its max length (docs/decoding.md). Every mode but "none" stops once no
    # live hypothesis can still beat the nbest best ended ones (exact: the outputs of "none"). "beam" (fairseq)
    # also stops once beam_size hypotheses ended; "bound" only at that bound; "none": at the max length only.
    early_stop: str = "beam"
    # ESPnet's end detection (espnet.nets.e2e_asr_common.end_detect, M = 3 there; 0 = off): stop once, for each
    # of M consecutive lengths, hypotheses ended at that length and the best of them scores more than
    # end_detect_margin below the best ended hypothesis (raw joint scores, as ESPnet). Not exact.
    end_detect: int = 0
    # D_end of end_detect, in nats (ESPnet: log(exp(-10)), i.e. 10).
    end_detect_margin: float = 10.0

    def __post_init__(self) -> None:
        checks = [
            ("beam_size", self.beam_size >= 1, "an integer >= 1"),
            ("nbest", 1 <= self.nbest <= self.beam_size, f"between 1 and beam_size ({self.beam_size})"),
            ("max_len_ratio", self.max_len_ratio >= 0, ">= 0"),
            ("max_len", self.max_len >= 1, "an integer >= 1"),
            ("min_len_ratio", self.min_len_ratio >= 0, ">= 0"),
            ("ctc_weight", 0.0 <= self.ctc_weight <= 1.0, "between 0 and 1"),
            ("ctc_pre_beam_ratio", self.ctc_pre_beam_ratio >= 1.0, ">= 1"),
            ("no_repeat_ngram_size", self.no_repeat_ngram_size >= 0, ">= 0"),
            ("early_stop", self.early_stop in EARLY_STOP, f"one of {', '.join(EARLY_STOP)}"),
            ("end_detect", self.end_detect >= 0, "an integer >= 0 (0 = off)"),
            ("end_detect_margin", self.end_detect_margin >= 0, ">= 0"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise LegokitError(f"decode.{key} = {getattr(self, key)!r}: expected {expected}")


@dataclass
class Hypothesis:
    """One decoded output. Scores are natural-log; `score` is the length-normalised joint score."""

    tokens: list[int]  # output token ids without bos/eos
    score: float  # ((1 - ctc_weight) * att_score + ctc_weight * ctc_score) / (len(tokens) + 1) ** lp
    att_score: float  # sum of the decoder's log-probs of tokens + eos
    ctc_score: float | None  # CTC log-probability of tokens as the whole output; None without CTC


def length_limits(source_lengths: Tensor, cfg: BeamSearchConfig) -> tuple[Tensor, Tensor]:
    """source_lengths (B,) -> (max_len (B,), min_len (B,)) output tokens, eos excluded, min <= max."""
    lengths = source_lengths.double()
    max_len = (cfg.max_len_ratio * lengths + cfg.max_len_offset).long().clamp(min=0, max=cfg.max_len)
    min_len = torch.minimum((cfg.min_len_ratio * lengths).long(), max_len)
    return max_len, min_len


def mask_scores_(scores: Tensor, tokens: Tensor, min_len: Tensor, max_len: Tensor,
                 cfg: BeamSearchConfig, special: tuple[int, int, int]) -> Tensor:
    """Set scores (N, V) of tokens that may not come next to -inf, in place: blank and bos always,
    eos before min_len, everything but eos at max_len, tokens completing a repeated n-gram.

    tokens (N, U) prefixes incl. bos, min_len / max_len (N,). O(N) column/row work, no (N, V) pass.
    """
    bos, eos, blank = special
    step = tokens.shape[1] - 1
    out = scores
    out[:, [blank, bos]] = NEG_INF
    out[:, eos].masked_fill_(step < min_len, NEG_INF)
    forced = (step >= max_len).nonzero().squeeze(1)
    if forced.numel():
        ended = out[forced, eos]
        out[forced] = NEG_INF
        out[forced, eos] = ended
    size = cfg.no_repeat_ngram_size
    if size and tokens.shape[1] >= size:
        grams = tokens.unfold(1, size, 1)  # (N, W, size)
        match = (grams[:, :, :-1] == tokens[:, None, tokens.shape[1] - size + 1 :]).all(-1)  # (N, W)
        rows, starts = match.nonzero(as_tuple=True)
        out[rows, grams[rows, starts, -1]] = NEG_INF
    return out


def greedy_search(decoder: StepDecoder, memory: Tensor, memory_padding_mask: Tensor, source_lengths: Tensor,
                  cfg: BeamSearchConfig, vocab: VocabularyInfo) -> list[list[Hypothesis]]:
    """Argmax decoding of B utterances in one batch; same result as beam_size 1, without the bookkeeping.

    memory (B, S, D), memory_padding_mask (B, S), source_lengths (B,) -> B lists of one Hypothesis; bos, eos
    and blank are those of ``vocab``, the decoder's output vocabulary.
    """
    bos, eos = vocab.bos, vocab.eos
    batch, device = memory.shape[0], memory.device
    max_len, min_len = (limit.to(device) for limit in length_limits(source_lengths, cfg))
    state = decoder.init_state(memory, memory_padding_mask)
    tokens = torch.full((batch, 1), bos, dtype=torch.long, device=device)
    score = torch.zeros(batch, dtype=_score_dtype(memory), device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    for _ in range(int(max_len.max()) + 1):
        log_probs, state = decoder.step(tokens, state)
        log_probs = mask_scores_(log_probs.to(score.dtype, copy=True), tokens, min_len, max_len, cfg,
                                 (bos, eos, vocab.blank))
        best, token = log_probs.max(dim=-1)
        score = score + best.masked_fill(done, 0.0)
        tokens = torch.cat([tokens, token.masked_fill(done, eos)[:, None]], dim=1)
        done = done | (token == eos)
        if bool(done.all()):
            break
    hyps = []
    for row, output in enumerate(tokens[:, 1:].tolist()):
        output = output[: output.index(eos)] if eos in output else output
        raw = score[row].item()
        hyps.append([Hypothesis(output, raw / (len(output) + 1) ** cfg.length_penalty, raw, None)])
    return hyps


def beam_search(decoder: StepDecoder, memory: Tensor, memory_padding_mask: Tensor, source_lengths: Tensor,
                cfg: BeamSearchConfig, vocab: VocabularyInfo, ctc_log_probs: Tensor | None = None,
                ctc_lengths: Tensor | None = None) -> list[list[Hypothesis]]:
    """Beam search for B utterances at once, with joint CTC/attention scoring when cfg.ctc_weight > 0.

    memory (B, S, D), memory_padding_mask (B, S) True at padding, source_lengths (B,) for the length
    limits, vocab the decoder's output vocabulary (bos, eos; blank never output), ctc_log_probs (B, T, V)
    and ctc_lengths (B,) the CTC posteriors over the same vocabulary (required with CTC).
    Returns per utterance up to cfg.nbest hypotheses, best first (fewer, possibly none, only if no
    hypothesis has a finite score).
    """
    if cfg.ctc_weight > 0 and (ctc_log_probs is None or ctc_lengths is None):
        raise LegokitError(
            f"decode.ctc_weight = {cfg.ctc_weight} needs CTC log-probs: use a model with a CTC head "
            "or set decode.ctc_weight=0"
        )
    if memory.shape[0] == 0:
        return []
    if cfg.beam_size == 1 and cfg.ctc_weight == 0:
        return greedy_search(decoder, memory, memory_padding_mask, source_lengths, cfg, vocab)
    scorer = None
    if cfg.ctc_weight > 0:
        scorer = CTCPrefixScorer(ctc_log_probs.to(_score_dtype(memory)), ctc_lengths, blank=vocab.blank, eos=vocab.eos)
    return _BatchBeamSearch(decoder, cfg, (vocab.bos, vocab.eos, vocab.blank), scorer).run(
        memory, memory_padding_mask, source_lengths)


def _score_dtype(memory: Tensor) -> torch.dtype:
    """Scores accumulate in at least float32, whatever precision the model runs in."""
    return torch.promote_types(memory.dtype, torch.float32)


@dataclass
class _Live:
    """The hypotheses still searching: n active utterances × beam rows, utterance-major."""

    utt: Tensor  # (n,) original index of each active utterance
    tokens: Tensor  # (n * beam, U) prefixes starting with bos
    score: Tensor  # (n * beam,) joint score, -inf for empty slots
    att: Tensor  # (n * beam,) summed attention log-probs
    decoder_state: Any
    ctc_state: CTCPrefixState | None
    # Consecutive rows sharing one decoder-state row: beam at the start (every slot holds just bos, so the
    # first step runs once per utterance), 1 afterwards.
    shared: int = 1


@dataclass
class _Candidates:
    """The expansions of all live rows: K candidates per row."""

    score: Tensor  # (N, K) joint score
    att: Tensor  # (N, K) summed attention log-probs
    tokens: Tensor | None  # (N, K) token ids; None when the candidates are the whole vocabulary
    ctc: CTCCandidates | None

    def token(self, flat: Tensor) -> Tensor:
        """Token ids at flat indices (any shape) into the N * K candidates."""
        return flat % self.score.shape[1] if self.tokens is None else self.tokens.reshape(-1)[flat]


class _FinishedPool:
    """The best `beam` ended hypotheses per utterance, kept as tensors (no per-hypothesis Python)."""

    def __init__(self, batch: int, beam: int, max_len: int, like: Tensor) -> None:
        self.score = like.new_full((batch, beam), NEG_INF)  # length-normalised
        self.att = like.new_zeros(batch, beam)
        self.ctc = like.new_zeros(batch, beam)
        self.length = torch.zeros(batch, beam, dtype=torch.long, device=like.device)
        self.tokens = torch.zeros(batch, beam, max_len, dtype=torch.long, device=like.device)

    def add(self, utt: Tensor, new: dict[str, Tensor]) -> None:
        """Merge new ended hypotheses of utterances utt (n,): fields like the pool's, shaped (n, k, ...)."""
        tokens = new["tokens"]
        new["tokens"] = torch.nn.functional.pad(tokens, (0, self.tokens.shape[2] - tokens.shape[2]))
        merged = {key: torch.cat([getattr(self, key)[utt], value], dim=1) for key, value in new.items()}
        best = merged["score"].topk(self.score.shape[1], dim=1).indices  # (n, beam)
        for key, value in merged.items():
            index = best.view(*best.shape, *([1] * (value.dim() - 2))).expand(-1, -1, *value.shape[2:])
            getattr(self, key)[utt] = value.gather(1, index)

    def hypotheses(self, nbest: int, with_ctc: bool) -> list[list[Hypothesis]]:
        """Up to nbest finite-scoring hypotheses per utterance, best first."""
        out = []
        for score, att, ctc, length, tokens in zip(*(t[:, :nbest].tolist() for t in (
                self.score, self.att, self.ctc, self.length, self.tokens))):
            out.append([Hypothesis(tokens[i][: length[i]], score[i], att[i], ctc[i] if with_ctc else None)
                        for i in range(nbest) if score[i] > NEG_INF])
        return out


class _BatchBeamSearch:
    """One beam search run; small methods for expand / select / finalize / prune."""

    def __init__(self, decoder: StepDecoder, cfg: BeamSearchConfig, special: tuple[int, int, int],
                 scorer: CTCPrefixScorer | None) -> None:
        self.decoder, self.cfg, self.special, self.scorer = decoder, cfg, special, scorer
        self.beam = cfg.beam_size

    def run(self, memory: Tensor, memory_padding_mask: Tensor,
            source_lengths: Tensor) -> list[list[Hypothesis]]:
        batch, device = memory.shape[0], memory.device
        self.max_len, self.min_len = (limit.to(device) for limit in length_limits(source_lengths, self.cfg))
        live = self._start(memory, memory_padding_mask)
        pool = _FinishedPool(batch, self.beam, int(self.max_len.max()), live.score)
        # for end detection: the best raw score of the hypotheses that ended at each step (last column: at any)
        self.ended_at = (live.score.new_full((batch, int(self.max_len.max()) + 2), NEG_INF)
                         if self.cfg.end_detect else None)
        for step in range(int(self.max_len.max()) + 1):
            candidates, live.decoder_state = self._expand(live)
            order, top_score = self._top(candidates, live.utt.numel())
            self._finalize(pool, live, candidates, order[:, : self.beam], top_score[:, : self.beam], step)
            keep = torch.sort((candidates.token(order) == self.special[1]).byte(), dim=1,
                              stable=True).indices[:, : self.beam]  # best beam non-eos candidates
            order, score = order.gather(1, keep), top_score.gather(1, keep)
            alive = ~self._done(pool, live.utt, score, step)
            if not bool(alive.any()):
                break
            live = self._advance(live, candidates, order[alive], score[alive], live.utt[alive])
        return pool.hypotheses(self.cfg.nbest, self.scorer is not None)

    def _start(self, memory: Tensor, memory_padding_mask: Tensor) -> _Live:
        """One live hypothesis (bos) per utterance; the other beam - 1 slots start at -inf. The decoder
        state stays one row per utterance until the first step has run."""
        batch, device = memory.shape[0], memory.device
        rows = torch.arange(batch, device=device).repeat_interleave(self.beam)
        score = torch.full((batch, self.beam), NEG_INF, dtype=_score_dtype(memory), device=device)
        score[:, 0] = 0.0
        return _Live(
            utt=torch.arange(batch, device=device),
            tokens=torch.full((batch * self.beam, 1), self.special[0], dtype=torch.long, device=device),
            score=score.flatten(),
            att=score.flatten().clone(),
            decoder_state=self.decoder.init_state(memory, memory_padding_mask),
            ctc_state=self.scorer.init_state(rows) if self.scorer is not None else None,
            shared=self.beam,
        )

    def _expand(self, live: _Live) -> tuple[_Candidates, Any]:
        """Run the decoder one step and score the candidate tokens of every live row."""
        log_probs, state = self.decoder.step(live.tokens[:: live.shared], live.decoder_state)
        if live.shared > 1:
            log_probs = log_probs.repeat_interleave(live.shared, dim=0)
        rows_utt = live.utt.repeat_interleave(self.beam)
        att = mask_scores_(live.att[:, None] + log_probs, live.tokens, self.min_len[rows_utt],
                           self.max_len[rows_utt], self.cfg, self.special)  # (N, V); -inf: banned, empty slots
        if self.scorer is None:
            return _Candidates(score=att, att=att, tokens=None, ctc=None), state
        weight = self.cfg.ctc_weight
        pre_beam = max(2, int(self.cfg.ctc_pre_beam_ratio * self.beam))  # >= 2: see _top
        tokens = None  # the whole vocabulary
        if weight < 1.0 and pre_beam < att.shape[1]:
            tokens = att.topk(pre_beam, dim=1).indices  # (N, K)
            att = att.gather(1, tokens)
        vocab = torch.arange(att.shape[1], device=att.device).expand_as(att)
        ctc = self.scorer.score(live.ctc_state, vocab if tokens is None else tokens)
        if weight == 1.0:  # attention only bans: -inf where it is -inf, else ignored
            score = ctc.scores.masked_fill(att == NEG_INF, NEG_INF)
        else:
            score = (1 - weight) * att + weight * ctc.scores
        return _Candidates(score=score, att=att, tokens=tokens, ctc=ctc), state

    def _top(self, candidates: _Candidates, active: int) -> tuple[Tensor, Tensor]:
        """The 2 * beam best (row, candidate) pairs per utterance -> flat indices into (N, K), scores.

        Twice the beam, as in fairseq: at most one eos per row, so with K >= 2 candidates per row at
        least beam of them are not eos and continue."""
        per_row = candidates.score.shape[1]
        flat = candidates.score.view(active, self.beam * per_row)
        top_score, top = flat.topk(min(2 * self.beam, flat.shape[1]), dim=1)
        offset = torch.arange(active, device=top.device)[:, None] * self.beam * per_row
        return top + offset, top_score

    @staticmethod
    def _gather(values: Tensor, flat: Tensor) -> Tensor:
        """values (N, K), flat indices (n, k) into its N * K entries -> (n, k)."""
        return values.reshape(-1)[flat]

    def _finalize(self, pool: _FinishedPool, live: _Live, candidates: _Candidates, order: Tensor,
                  score: Tensor, step: int) -> None:
        """Move eos candidates among the top beam of each utterance into the pool."""
        per_row = candidates.score.shape[1]
        ended = (candidates.token(order) == self.special[1]) & torch.isfinite(score)
        if not bool(ended.any()):
            return
        ctc = candidates.ctc
        ctc = torch.zeros_like(score) if ctc is None else self._gather(ctc.scores, order)
        if self.ended_at is not None:
            self.ended_at[live.utt, step] = score.masked_fill(~ended, NEG_INF).max(dim=1).values
            self.ended_at[live.utt, -1] = self.ended_at[live.utt][:, [step, -1]].max(dim=1).values
        pool.add(live.utt, {
            "score": (score / (step + 1) ** self.cfg.length_penalty).masked_fill(~ended, NEG_INF),
            "att": self._gather(candidates.att, order),
            "ctc": ctc,
            "length": torch.full_like(order, step),
            "tokens": live.tokens[order // per_row][:, :, 1:],
        })

    def _done(self, pool: _FinishedPool, utt: Tensor, score: Tensor, step: int) -> Tensor:
        """(n,) bool: utterances whose search is over after this step. score (n, beam) of the survivors."""
        finished = pool.score[utt]  # (n, beam), best first
        done = (step >= self.max_len[utt]) | ~torch.isfinite(score).any(dim=1)
        if self.cfg.early_stop != "none":
            done = done | self._unbeatable(finished, utt, score, step)
        if self.cfg.early_stop == "beam":
            done = done | torch.isfinite(finished).all(dim=1)
        if self.ended_at is not None:
            done = done | self._end_detected(utt, step)
        return done

    def _unbeatable(self, finished: Tensor, utt: Tensor, score: Tensor, step: int) -> Tensor:
        """(n,) bool: no continuation of a live hypothesis (scores (n, beam)) can beat the nbest-th best ended
        one, so the output is final. A live raw score s <= 0 only falls (attention log-probs are <= 0, a CTC
        prefix probability falls as the prefix grows); s / L**lp is best at one end of the reachable lengths."""
        penalty = self.cfg.length_penalty
        shortest = score / (step + 2) ** penalty
        longest = score / (self.max_len[utt, None] + 1).to(score.dtype) ** penalty
        best_reachable = torch.maximum(shortest, longest).max(dim=1).values
        kth = finished[:, self.cfg.nbest - 1]
        return torch.isfinite(kth) & (kth >= best_reachable)

    def _end_detected(self, utt: Tensor, step: int) -> Tensor:
        """(n,) bool: ESPnet's end_detect after step ``step``, on raw joint scores as ESPnet's. ESPnet compares
        the length of its sequences (sos + tokens + eos) with the step index, so the M lengths it looks at are
        those of the hypotheses that ended 2 to M + 1 steps ago; the same steps here."""
        last = step - 2
        first = last - self.cfg.end_detect + 1
        if first < 0:
            return torch.zeros_like(utt, dtype=torch.bool)
        ended = self.ended_at[utt]
        recent = ended[:, first : last + 1]  # (n, M)
        far_below = recent - ended[:, -1:] < -self.cfg.end_detect_margin
        return (torch.isfinite(recent) & far_below).all(dim=1)

    def _advance(self, live: _Live, candidates: _Candidates, order: Tensor, score: Tensor,
                 utt: Tensor) -> _Live:
        """The survivors order (n', beam) flat indices into (N, K) become the new live rows."""
        per_row = candidates.score.shape[1]
        flat = order.flatten()
        rows, cols = flat // per_row, flat % per_row
        ctc_state = None
        if candidates.ctc is not None:
            ctc_state = CTCPrefixScorer.select(live.ctc_state, candidates.ctc, rows, cols)
        return _Live(
            utt=utt,
            tokens=torch.cat([live.tokens[rows], candidates.token(flat)[:, None]], dim=1),
            score=score.flatten(),
            att=candidates.att[rows, cols],
            decoder_state=self.decoder.reorder_state(live.decoder_state, rows // live.shared),
            ctc_state=ctc_state,
        )

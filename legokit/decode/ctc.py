"""CTC decoding: greedy best path, and batched CTC prefix scores for joint CTC/attention search.

Prefix scoring follows Watanabe et al. (2017), "Hybrid CTC/attention architecture for end-to-end
speech recognition", Algorithm 2, vectorised over hypotheses × candidate tokens like ESPnet's
CTCPrefixScoreTH. For a prefix g (without bos) the forward variables are
r_t^n(g) and r_t^b(g), the probability of emitting g over frames 0..t with frame t a non-blank
(the last token of g) or a blank. The prefix probability of h = g + c,

    psi(h) = sum_t phi_{t-1}(g, c) · y_t(c),   phi = r^n + r^b, or only r^b when c repeats g's last token,

is the total probability of all alignments whose collapsed output *starts with* h. For c = eos it is
the probability of g being the whole output, r_{L-1}^n(g) + r_{L-1}^b(g) — what F.ctc_loss computes.

Per-utterance lengths are handled by padding frames t >= L with y_t(blank) = 1 and y_t(c) = 0 for
all other c: alignments then "idle" in blank after the last real frame, so every sum over the padded
length T equals the sum over L without any per-utterance bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from legokit.nn.masks import padding_mask

NEG_INF = float("-inf")


def ctc_greedy(log_probs: Tensor, lengths: Tensor, blank: int) -> list[list[int]]:
    """Best-path CTC decoding: argmax per frame, collapse repeats, drop blanks.

    log_probs (B, T, V), lengths (B,) valid frames -> B token-id lists.
    """
    best = log_probs.argmax(dim=-1)  # (B, T)
    previous = torch.nn.functional.pad(best[:, :-1], (1, 0), value=-1)  # (B, T)
    frames = torch.arange(best.size(1), device=best.device)
    keep = (best != blank) & (best != previous) & (frames[None, :] < lengths[:, None].to(best.device))
    pieces = best[keep].split(keep.sum(dim=1).tolist())
    return [piece.tolist() for piece in pieces]


@dataclass
class CTCPrefixState:
    """CTC forward variables of N prefixes g (all of the same length, as in synchronous beam search).

    Frame index i in r_n / r_b stands for "after frame i - 1"; index 0 is before the first frame.
    """

    r_n: Tensor  # (T + 1, N) log r^n: g emitted, last frame a non-blank
    r_b: Tensor  # (T + 1, N) log r^b: g emitted, last frame a blank
    last: Tensor  # (N,) long, last token of g; -1 for the empty prefix
    utt: Tensor  # (N,) long, row of the scorer's log_probs each prefix belongs to
    score: Tensor  # (N,) log prefix probability psi(g); 0 for the empty prefix
    length: int  # number of tokens in g


@dataclass
class CTCCandidates:
    """Scores and forward variables of the extensions g + c for K candidate tokens c per prefix."""

    tokens: Tensor  # (N, K) long candidate tokens
    scores: Tensor  # (N, K) log psi(g + c); for c = eos the log probability of g as the whole output
    r_n: Tensor  # (T + 1, N, K)
    r_b: Tensor  # (T + 1, N, K)


class CTCPrefixScorer:
    """Batched CTC prefix probabilities of hypotheses extended by candidate tokens.

    log_probs (B, T, V) CTC log-posteriors, lengths (B,) valid frames. Hypothesis rows point into the
    B utterances through `utt`, so any number of hypotheses per utterance can be scored at once.
    """

    def __init__(self, log_probs: Tensor, lengths: Tensor, blank: int, eos: int | None = None) -> None:
        batch, frames, _ = log_probs.shape
        lengths = lengths.to(log_probs.device)
        padded = padding_mask(lengths, frames)  # (B, T)
        log_probs = log_probs.masked_fill(padded[:, :, None], NEG_INF)
        log_probs[:, :, blank] = log_probs[:, :, blank].masked_fill(padded, 0.0)
        self.log_probs = log_probs.transpose(0, 1).contiguous()  # (T, B, V)
        self.lengths = lengths
        self.blank = blank
        self.eos = eos

    def init_state(self, utt: Tensor) -> CTCPrefixState:
        """utt (N,) long utterance index of each hypothesis -> the state of the empty prefix."""
        blank = self.log_probs[:, utt, self.blank]  # (T, N)
        r_b = torch.nn.functional.pad(blank.cumsum(dim=0), (0, 0, 1, 0), value=0.0)  # (T + 1, N)
        return CTCPrefixState(
            r_n=torch.full_like(r_b, NEG_INF),
            r_b=r_b,
            last=torch.full_like(utt, -1),
            utt=utt,
            score=r_b.new_zeros(utt.shape),
            length=0,
        )

    def score(self, state: CTCPrefixState, tokens: Tensor) -> CTCCandidates:
        """Prefix scores of g + c for candidates tokens (N, K) -> CTCCandidates with scores (N, K).

        The loop runs over frames [len(g), max length of these utterances): earlier frames cannot
        hold the extended prefix, later ones are padding.
        """
        start, end = state.length, int(self.lengths.index_select(0, state.utt).max())
        span, (_, batch, vocab), (rows, cands) = max(end - start, 0), self.log_probs.shape, tokens.shape
        # y_t(blank) and y_t(c) of every (prefix, candidate) in one gather from the (T', B * V) frames
        base = (state.utt * vocab)[:, None]
        index = torch.stack([(base + self.blank).expand(rows, cands), base + tokens])  # (2, N, K)
        y = self.log_probs[start:end].reshape(span, batch * vocab).index_select(1, index.flatten())
        y = y.view(span, 2, rows, cands)  # (T', 2, N, K)
        repeat = (tokens == state.last[:, None])[None]  # (1, N, K)
        # One buffer per frame holding (r^b, phi, r^n) of the extensions, so that one logaddexp and one
        # add per frame do both recursions: (r^b, r^n)[t+1] = logaddexp(r^n[t], (r^b, phi)[t]) + (y_blank, y_c).
        # r^b and r^n are -inf up to frame `start` (too few frames for g + c) and past `end` (never reached);
        # the loop writes frames start + 1 .. end; phi is only read at frames start .. end - 1.
        w = y.new_empty((state.r_n.shape[0], 3, rows, cands))  # (T + 1, 3, N, K)
        w[: start + 1, ::2] = NEG_INF
        w[end + 1 :, ::2] = NEG_INF
        phi = w[start:end, 1]  # (T', N, K)
        r_b = state.r_b[start:end]
        torch.where(repeat, r_b[:, :, None], torch.logaddexp(state.r_n[start:end], r_b)[:, :, None], out=phi)
        # Per-frame views made once (unbind), so the loop runs two kernels and no view ops per frame.
        r_n, pair, out = w[start:end, 2].unbind(0), w[start:end, :2].unbind(0), w[start + 1 : end + 1, ::2].unbind(0)
        for r_n_t, pair_t, out_t, y_t in zip(r_n, pair, out, y.unbind(0), strict=True):
            torch.logaddexp(r_n_t, pair_t, out=out_t)
            out_t.add_(y_t)
        scores = torch.logsumexp(phi + y[:, 1], dim=0)  # (N, K)
        if self.eos is not None:
            complete = torch.logaddexp(state.r_n[end], state.r_b[end])  # (N,)
            scores = torch.where(tokens == self.eos, complete[:, None], scores)
        scores = scores.masked_fill(tokens == self.blank, NEG_INF)
        return CTCCandidates(tokens=tokens, scores=scores, r_n=w[:, 2], r_b=w[:, 0])

    @staticmethod
    def select(state: CTCPrefixState, candidates: CTCCandidates, row: Tensor, col: Tensor) -> CTCPrefixState:
        """The state of the extensions picked by row (N',) into the N prefixes and col (N',) into K."""
        flat = row * candidates.tokens.size(1) + col  # into the N * K extensions
        return CTCPrefixState(
            r_n=candidates.r_n.flatten(1).index_select(1, flat),
            r_b=candidates.r_b.flatten(1).index_select(1, flat),
            last=candidates.tokens[row, col],
            utt=state.utt.index_select(0, row),
            score=candidates.scores[row, col],
            length=state.length + 1,
        )

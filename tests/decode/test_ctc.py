"""CTC greedy decoding and prefix scoring against brute-force enumeration of alignments and F.ctc_loss."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from legokit.decode.ctc import CTCPrefixScorer, ctc_greedy

BLANK, EOS = 0, 3


def collapse(alignment: tuple[int, ...], blank: int = BLANK) -> tuple[int, ...]:
    """CTC collapse: merge repeats, then drop blanks."""
    merged = [token for i, token in enumerate(alignment) if i == 0 or token != alignment[i - 1]]
    return tuple(token for token in merged if token != blank)


def brute_force(log_probs: torch.Tensor, prefix: tuple[int, ...], complete: bool) -> float:
    """log P(collapsed output starts with / equals prefix), summed over all V^T alignments."""
    frames, vocab = log_probs.shape
    total = 0.0
    for alignment in itertools.product(range(vocab), repeat=frames):
        output = collapse(alignment)
        if (output == prefix) if complete else (output[: len(prefix)] == prefix):
            total += math.exp(sum(log_probs[t, a].item() for t, a in enumerate(alignment)))
    return math.log(total) if total > 0 else -math.inf


def test_ctc_greedy_collapses_repeats_drops_blanks_and_respects_lengths():
    frames = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 3], [0, 2, 2, 2, 0, 0, 1, 1]])
    log_probs = F.one_hot(frames, 4).double().log_softmax(-1)
    assert ctc_greedy(log_probs, torch.tensor([8, 5]), BLANK) == [[1, 1, 2, 3], [2]]
    assert ctc_greedy(log_probs, torch.tensor([0, 8]), BLANK) == [[], [2, 1]]


def _tiny_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Two utterances over V = 4 (blank, a, b, 'eos' id 3 used as a token too), T = 5 and 4 frames."""
    log_probs = torch.randn(2, 5, 4, dtype=torch.float64).log_softmax(-1)
    return log_probs, torch.tensor([5, 4])


def test_prefix_scores_equal_brute_force_enumeration():
    log_probs, lengths = _tiny_batch()
    scorer = CTCPrefixScorer(log_probs, lengths, blank=BLANK, eos=EOS)
    # Walk every prefix of length <= 3 over tokens {1, 2}, both utterances at once.
    prefixes = [()]
    states = scorer.init_state(torch.tensor([0, 1]))
    for _ in range(3):
        tokens = torch.tensor([[1, 2, EOS, BLANK]]).expand(states.utt.numel(), 4)
        candidates = scorer.score(states, tokens)
        for row, prefix in enumerate(prefixes):
            for utt in range(2):
                lp = log_probs[utt, : lengths[utt]]
                r = row * 2 + utt
                assert candidates.scores[r, 0].item() == pytest.approx(brute_force(lp, prefix + (1,), False))
                assert candidates.scores[r, 1].item() == pytest.approx(brute_force(lp, prefix + (2,), False))
                assert candidates.scores[r, 2].item() == pytest.approx(brute_force(lp, prefix, True))
                assert candidates.scores[r, 3].item() == -math.inf
        # Row r = prefix * 2 + utt; the extension (prefix, c) becomes prefix' = prefix * 2 + c.
        picks = [(p * 2 + utt, c) for p in range(len(prefixes)) for c in (0, 1) for utt in (0, 1)]
        rows, cols = torch.tensor(picks).T
        states = scorer.select(states, candidates, rows, cols)
        prefixes = [p + (c,) for p in prefixes for c in (1, 2)]


def test_complete_scores_agree_with_ctc_loss():
    log_probs = torch.randn(3, 12, 6, dtype=torch.float64).log_softmax(-1)
    lengths = torch.tensor([12, 9, 6])
    targets = torch.tensor([[1, 2, 2, 4], [5, 1, 3, 0], [2, 2, 0, 0]])
    target_lengths = torch.tensor([4, 3, 2])
    expected = -F.ctc_loss(log_probs.transpose(0, 1), targets, lengths, target_lengths, reduction="none")
    scorer = CTCPrefixScorer(log_probs, lengths, blank=BLANK, eos=EOS)
    state = scorer.init_state(torch.arange(3))
    eos_column = torch.full((3, 1), EOS)
    for step in range(4):
        candidates = scorer.score(state, torch.cat([targets[:, step : step + 1].clamp(min=1), eos_column], 1))
        finished = target_lengths == step
        for utt in finished.nonzero().flatten().tolist():
            assert candidates.scores[utt, 1].item() == pytest.approx(expected[utt].item())
        state = scorer.select(state, candidates, torch.arange(3), torch.zeros(3, dtype=torch.long))
    final = scorer.score(state, eos_column)
    assert final.scores[0, 0].item() == pytest.approx(expected[0].item())


def test_prefix_longer_than_utterance_scores_minus_infinity():
    log_probs = torch.randn(1, 2, 4).log_softmax(-1)
    scorer = CTCPrefixScorer(log_probs, torch.tensor([2]), blank=BLANK, eos=EOS)
    state = scorer.init_state(torch.tensor([0]))
    for token in (1, 2):
        state = scorer.select(state, scorer.score(state, torch.tensor([[token]])), torch.tensor([0]),
                              torch.tensor([0]))
    assert scorer.score(state, torch.tensor([[1]])).scores.item() == -math.inf
    assert torch.isfinite(scorer.score(state, torch.tensor([[EOS]])).scores).all()


def _reference_score(scorer: CTCPrefixScorer, state, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Algorithm 2 of Watanabe et al. written frame by frame over all T + 1 frames: (scores, r^n, r^b) of g + c."""
    lp = scorer.log_probs  # (T, B, V), padding frames idle in blank
    start, end = state.length, int(scorer.lengths[state.utt].max())
    x = lp[:, state.utt[:, None], tokens]  # (T, N, K)
    x_blank = lp[:, state.utt, BLANK][:, :, None].expand_as(x)
    phi = torch.where(tokens == state.last[:, None], state.r_b[:, :, None],
                      torch.logaddexp(state.r_n, state.r_b)[:, :, None])  # (T + 1, N, K)
    r_n, r_b = torch.full_like(phi, -math.inf), torch.full_like(phi, -math.inf)
    for t in range(start, end):
        r_n[t + 1] = torch.logaddexp(r_n[t], phi[t]) + x[t]
        r_b[t + 1] = torch.logaddexp(r_n[t], r_b[t]) + x_blank[t]
    scores = torch.logsumexp(phi[start:end] + x[start:end], dim=0)
    complete = torch.logaddexp(state.r_n[end], state.r_b[end])
    scores = torch.where(tokens == EOS, complete[:, None], scores).masked_fill(tokens == BLANK, -math.inf)
    return scores, r_n, r_b


def test_scores_and_forward_variables_equal_the_frame_by_frame_recursion_bit_for_bit():
    """The scorer (one gather for y, buffers written only where read) computes exactly the written-out recursion,
    through selections that drop rows, and past the live utterances' lengths (steps 4-5: no frame left)."""
    torch.manual_seed(0)
    log_probs = torch.randn(3, 9, 7).log_softmax(-1)
    scorer = CTCPrefixScorer(log_probs, torch.tensor([9, 5, 2]), blank=BLANK, eos=EOS)
    state = scorer.init_state(torch.tensor([0, 0, 1, 1, 2, 2]))
    for _ in range(6):
        rows = state.utt.numel()
        tokens = torch.stack([torch.randperm(6)[:4] + 1 for _ in range(rows)])  # (N, 4), with eos and repeats
        candidates = scorer.score(state, tokens)
        scores, r_n, r_b = _reference_score(scorer, state, tokens)
        assert torch.equal(candidates.scores, scores)
        assert torch.equal(candidates.r_n, r_n) and torch.equal(candidates.r_b, r_b)
        keep = torch.arange(min(1, rows - 1), rows)  # drop the first row: the shortest utterance stays, to step 5
        col = torch.randint(0, 4, keep.shape)
        state = scorer.select(state, candidates, keep, col)
        assert torch.equal(state.r_n, r_n[:, keep, col]) and torch.equal(state.r_b, r_b[:, keep, col])
        assert torch.equal(state.last, tokens[keep, col]) and torch.equal(state.score, scores[keep, col])

"""Batched beam search: against greedy, one-by-one search, known optima, CTC best paths and limits."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from legokit.data.vocab import VocabularyInfo
from legokit.decode.beam_search import BeamSearchConfig, _BatchBeamSearch, beam_search, greedy_search
from legokit.decode.ctc import ctc_greedy
from legokit.decode.protocol import StepDecoder, reorder_nested
from legokit.errors import LegokitError

BLANK, UNK, BOS, EOS = 0, 1, 2, 3
A, B, C, D = 4, 5, 6, 7
VOCAB = 8
IDS = VocabularyInfo(VOCAB, blank=BLANK, pad=BLANK, unk=UNK, bos=BOS, eos=EOS)


class GRUDecoder(nn.Module):
    """A tiny attentional GRU decoder implementing StepDecoder (float64, so batch and single agree)."""

    def __init__(self, vocab: int = 12, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.cell = nn.GRUCell(2 * dim, dim)
        self.out = nn.Linear(2 * dim, vocab)
        self.double()

    def init_state(self, memory, memory_padding_mask):
        return {"h": memory.new_zeros(memory.shape[0], memory.shape[2]), "memory": memory,
                "mask": memory_padding_mask}

    def _context(self, h, state):
        weights = torch.einsum("nd,nsd->ns", h, state["memory"]).masked_fill(state["mask"], -math.inf)
        return torch.einsum("ns,nsd->nd", weights.softmax(-1), state["memory"])

    def step(self, tokens, state):
        context = self._context(state["h"], state)
        h = self.cell(torch.cat([self.embed(tokens[:, -1]), context], -1), state["h"])
        logits = self.out(torch.cat([h, self._context(h, state)], -1))
        return logits.log_softmax(-1), {**state, "h": h}

    def reorder_state(self, state, index):
        return reorder_nested(state, index)


class OracleDecoder:
    """Fixed next-token distributions per prefix (tuple of output tokens); `default` elsewhere."""

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]], default: dict[int, float]) -> None:
        self.table, self.default = table, default

    @staticmethod
    def distribution(probs: dict[int, float]) -> torch.Tensor:
        """probs over named tokens; the rest of the mass spread over the other non-special tokens."""
        free = [t for t in range(VOCAB) if t not in probs and t not in (BLANK, BOS)]
        dist = torch.zeros(VOCAB, dtype=torch.float64)
        dist[free] = (1.0 - sum(probs.values())) / len(free)
        for token, p in probs.items():
            dist[token] = p
        return dist.log()

    def log_probs(self, prefix: tuple[int, ...]) -> torch.Tensor:
        return self.distribution(self.table.get(prefix, self.default))

    def init_state(self, memory, memory_padding_mask):
        return {}

    def step(self, tokens, state):
        return torch.stack([self.log_probs(tuple(row[1:])) for row in tokens.tolist()]), state

    def reorder_state(self, state, index):
        return state


ENDS = {EOS: 0.97}  # after a complete sentence, stop
# Greedy takes A (0.6) then C (0.32): 0.192 at best; the optimum is B C (0.38 * 0.9).
GARDEN_PATH = OracleDecoder({(): {A: 0.6, B: 0.38}, (A,): {C: 0.32, D: 0.28}, (B,): {C: 0.9}}, ENDS)


def memory_batch(lengths: list[int], dim: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random memory (B, S, D) with padding mask (B, S) for the given lengths."""
    lengths_t = torch.tensor(lengths)
    memory = torch.randn(len(lengths), max(lengths), dim, dtype=torch.float64)
    return memory, torch.arange(max(lengths))[None, :] >= lengths_t[:, None], lengths_t


def search(decoder: StepDecoder, cfg: BeamSearchConfig, lengths=(3,), **kwargs):
    memory, mask, lengths_t = memory_batch(list(lengths))
    return beam_search(decoder, memory, mask, lengths_t, cfg, IDS, **kwargs)


def naive_greedy(decoder: StepDecoder, memory, mask, max_len: int) -> list[int]:
    """Argmax decoding of one utterance, written the obvious way."""
    state, tokens = decoder.init_state(memory, mask), [BOS]
    for _ in range(max_len):
        log_probs, state = decoder.step(torch.tensor([tokens]), state)
        log_probs[0, [BLANK, BOS]] = -math.inf
        tokens.append(int(log_probs[0].argmax()))
        if tokens[-1] == EOS:
            return tokens[1:-1]
    return tokens[1:]


def test_beam_one_equals_greedy():
    decoder = GRUDecoder()
    memory, mask, lengths = memory_batch([5, 2, 7])
    cfg = BeamSearchConfig(beam_size=1, max_len_ratio=0.0, max_len_offset=6)
    greedy = greedy_search(decoder, memory, mask, lengths, cfg, IDS)
    beam_one = _BatchBeamSearch(decoder, cfg, (BOS, EOS, BLANK), None).run(memory, mask, lengths)
    for b in range(3):
        expected = naive_greedy(decoder, memory[b : b + 1, : lengths[b]], mask[b : b + 1, : lengths[b]], 6)
        assert greedy[b][0].tokens == beam_one[b][0].tokens == expected
        assert greedy[b][0].score == pytest.approx(beam_one[b][0].score)
        assert greedy[b][0].att_score == pytest.approx(beam_one[b][0].att_score)


@pytest.mark.parametrize("ctc_weight", [0.0, 0.3])
def test_batched_equals_one_by_one(ctc_weight):
    decoder = GRUDecoder()
    lengths = [6, 2, 9, 4]
    memory, mask, lengths_t = memory_batch(lengths)
    ctc = torch.randn(4, 9, 12, dtype=torch.float64).mul(3).log_softmax(-1)
    cfg = BeamSearchConfig(beam_size=4, nbest=4, max_len_ratio=1.0, max_len_offset=2, ctc_weight=ctc_weight)
    batched = beam_search(decoder, memory, mask, lengths_t, cfg, IDS, ctc_log_probs=ctc,
                          ctc_lengths=lengths_t)
    for b, length in enumerate(lengths):
        one = slice(b, b + 1)
        single = beam_search(decoder, memory[one, :length], mask[one, :length], lengths_t[one], cfg, IDS,
                             ctc_log_probs=ctc[one, :length], ctc_lengths=lengths_t[one])
        assert [h.tokens for h in batched[b]] == [h.tokens for h in single[0]]
        for got, want in zip(batched[b], single[0]):
            assert (got.score, got.att_score) == pytest.approx((want.score, want.att_score))
            assert (got.ctc_score is None) == (ctc_weight == 0)
            assert got.ctc_score == pytest.approx(want.ctc_score)


def test_beam_finds_the_optimum_greedy_misses():
    greedy = search(GARDEN_PATH, BeamSearchConfig(beam_size=1, length_penalty=0.0))
    assert greedy[0][0].tokens == [A, C]
    for beam in (2, 3, 5):
        best = search(GARDEN_PATH, BeamSearchConfig(beam_size=beam, length_penalty=0.0))[0][0]
        assert best.tokens == [B, C]
        assert best.score == pytest.approx(math.log(0.38 * 0.9 * 0.97))


def test_nbest_sorted_and_scores_match_the_decoder():
    for penalty in (0.0, 1.0):
        cfg = BeamSearchConfig(beam_size=4, nbest=4, length_penalty=penalty)
        hyps = search(GARDEN_PATH, cfg)[0]
        assert len(hyps) == 4 and len({tuple(h.tokens) for h in hyps}) == 4
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for hyp in hyps:
            prefixes = [tuple(hyp.tokens[:i]) for i in range(len(hyp.tokens) + 1)]
            att = sum(GARDEN_PATH.log_probs(p)[t].item() for p, t in zip(prefixes, hyp.tokens + [EOS]))
            assert hyp.att_score == pytest.approx(att)
            assert hyp.score == pytest.approx(att / (len(hyp.tokens) + 1) ** penalty)


def test_min_and_max_length_are_respected():
    eager = OracleDecoder({}, {EOS: 0.9})
    for beam in (1, 3):
        short = search(eager, BeamSearchConfig(beam_size=beam, nbest=beam, min_len_ratio=1.0), lengths=(3,))
        assert all(len(h.tokens) >= 3 for h in short[0]) and min(len(h.tokens) for h in short[0]) == 3
    endless = OracleDecoder({}, {A: 0.5, B: 0.49, EOS: 1e-6})
    for beam in (1, 3):
        cfg = BeamSearchConfig(beam_size=beam, nbest=beam, max_len_ratio=0.5, max_len_offset=1)
        hyps = search(endless, cfg, lengths=(4, 8))
        assert [len(h.tokens) for h in hyps[0]] == [3] * beam
        assert [len(h.tokens) for h in hyps[1]] == [5] * beam


def test_no_repeat_ngram():
    parrot = OracleDecoder({}, {A: 0.9, EOS: 1e-3})
    cfg = BeamSearchConfig(beam_size=2, max_len_ratio=0.0, max_len_offset=6, no_repeat_ngram_size=2)
    tokens = search(parrot, cfg)[0][0].tokens
    bigrams = list(zip(tokens, tokens[1:]))
    assert len(bigrams) == len(set(bigrams)) and tokens[:2] == [A, A]
    cfg = BeamSearchConfig(beam_size=1, max_len_ratio=0.0, max_len_offset=6, no_repeat_ngram_size=1)
    tokens = search(parrot, cfg)[0][0].tokens
    assert len(tokens) == len(set(tokens))


def peaked_ctc(frames: list[int], peak: float = 0.9) -> torch.Tensor:
    """(1, T, VOCAB) log-posteriors with `peak` on the given frame labels."""
    probs = torch.full((len(frames), VOCAB), (1 - peak) / (VOCAB - 1), dtype=torch.float64)
    probs[torch.arange(len(frames)), frames] = peak
    return probs.log()[None]


def test_ctc_only_recovers_the_ctc_best_path():
    uniform = OracleDecoder({}, {})
    frames = [A, A, BLANK, B, BLANK, B, C, C, BLANK]
    ctc, lengths = peaked_ctc(frames), torch.tensor([len(frames)])
    assert ctc_greedy(ctc, lengths, BLANK) == [[A, B, B, C]]
    cfg = BeamSearchConfig(beam_size=3, ctc_weight=1.0, length_penalty=0.0)
    best = search(uniform, cfg, lengths=(9,), ctc_log_probs=ctc, ctc_lengths=lengths)[0][0]
    assert best.tokens == [A, B, B, C]
    target = torch.tensor([[A, B, B, C]])
    expected = -F.ctc_loss(ctc.transpose(0, 1), target, lengths, torch.tensor([4]), reduction="sum")
    assert best.ctc_score == pytest.approx(expected.item()) and best.score == pytest.approx(best.ctc_score)


@pytest.mark.parametrize("beam", [1, 3])
def test_joint_score_mixes_attention_and_ctc(beam):
    ctc = peaked_ctc([B, BLANK, C, BLANK])
    cfg = BeamSearchConfig(beam_size=beam, ctc_weight=0.4, length_penalty=0.0)
    best = search(GARDEN_PATH, cfg, lengths=(4,), ctc_log_probs=ctc, ctc_lengths=torch.tensor([4]))[0][0]
    assert best.tokens == [B, C]
    assert best.score == pytest.approx(0.6 * best.att_score + 0.4 * best.ctc_score)


def test_bound_early_stop_never_worse_than_beam_stop():
    decoder = GRUDecoder()
    memory, mask, lengths = memory_batch([5, 3])
    for penalty in (0.0, 1.0):
        results = {stop: beam_search(decoder, memory, mask, lengths, BeamSearchConfig(
            beam_size=3, length_penalty=penalty, early_stop=stop), IDS) for stop in ("beam", "bound")}
        for beam_hyps, bound_hyps in zip(results["beam"], results["bound"]):
            assert bound_hyps[0].score >= beam_hyps[0].score - 1e-9


@pytest.mark.parametrize("key, value", [("beam_size", 0), ("nbest", 6), ("ctc_weight", 1.5),
                                        ("early_stop", "sometimes"), ("no_repeat_ngram_size", -1)])
def test_config_errors_name_the_key(key, value):
    with pytest.raises(LegokitError, match=f"decode.{key}"):
        BeamSearchConfig(**{key: value})


def test_empty_batch():
    memory, mask = torch.zeros(0, 3, 8), torch.zeros(0, 3, dtype=torch.bool)
    assert beam_search(GRUDecoder(), memory, mask, torch.zeros(0, dtype=torch.long), BeamSearchConfig(),
                       IDS) == []


def test_ctc_weight_without_ctc_log_probs_is_an_error():
    with pytest.raises(LegokitError, match="decode.ctc_weight"):
        search(GARDEN_PATH, BeamSearchConfig(ctc_weight=0.3))

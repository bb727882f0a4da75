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


class CountingDecoder:
    """Wraps a StepDecoder; counts its steps (calls of `step`)."""

    def __init__(self, inner: StepDecoder) -> None:
        self.inner, self.steps = inner, 0

    def init_state(self, memory, memory_padding_mask):
        return self.inner.init_state(memory, memory_padding_mask)

    def step(self, tokens, state):
        self.steps += 1
        return self.inner.step(tokens, state)

    def reorder_state(self, state, index):
        return self.inner.reorder_state(state, index)


def counted_search(decoder: StepDecoder, cfg: BeamSearchConfig, memory, mask, lengths, **kwargs):
    """(hypotheses, decoder steps) of one beam_search call."""
    counter = CountingDecoder(decoder)
    return beam_search(counter, memory, mask, lengths, cfg, IDS, **kwargs), counter.steps


def assert_same_hypotheses(got, want):
    assert [[h.tokens for h in hyps] for hyps in got] == [[h.tokens for h in hyps] for hyps in want]
    for got_hyps, want_hyps in zip(got, want):
        for g, w in zip(got_hyps, want_hyps):
            assert (g.score, g.att_score) == pytest.approx((w.score, w.att_score))
            assert g.ctc_score == pytest.approx(w.ctc_score)


@pytest.mark.parametrize("ctc_weight", [0.0, 0.3])
def test_exact_early_stop_gives_the_outputs_of_no_early_stop_in_fewer_steps(ctc_weight, monkeypatch):
    decoder = GRUDecoder()
    lengths = torch.tensor([6, 2, 9, 4])
    memory, mask, _ = memory_batch(lengths.tolist())
    ctc = torch.randn(4, 9, 12, dtype=torch.float64).mul(3).log_softmax(-1)
    fewer = 0
    for penalty in (0.0, 1.0):
        for nbest in (1, 3):
            cfgs = {stop: BeamSearchConfig(beam_size=4, nbest=nbest, length_penalty=penalty, ctc_weight=ctc_weight,
                                           max_len_ratio=1.0, max_len_offset=8, early_stop=stop)
                    for stop in ("none", "bound", "beam")}
            runs = {stop: counted_search(decoder, cfg, memory, mask, lengths, ctc_log_probs=ctc, ctc_lengths=lengths)
                    for stop, cfg in cfgs.items()}
            assert_same_hypotheses(runs["bound"][0], runs["none"][0])
            assert runs["bound"][1] <= runs["none"][1] and runs["beam"][1] <= runs["bound"][1]
            fewer += runs["bound"][1] < runs["none"][1]
            # the default ("beam") stops at the bound too, and gives what it gave before it did
            with monkeypatch.context() as patch:
                patch.setattr(_BatchBeamSearch, "_unbeatable", lambda self, finished, *_: torch.zeros(
                    finished.shape[0], dtype=torch.bool))
                beam_only = counted_search(decoder, cfgs["beam"], memory, mask, lengths, ctc_log_probs=ctc,
                                           ctc_lengths=lengths)
            assert_same_hypotheses(runs["beam"][0], beam_only[0])
            assert runs["beam"][1] <= beam_only[1]
    assert fewer >= 2  # without length normalisation the bound stops early


ESPNET_D_END = math.log(1 * math.exp(-10))  # end_detect's default: -10 nats


def espnet_end_detect(ended_hyps, i, M=3, D_end=ESPNET_D_END):
    """espnet.nets.e2e_asr_common.end_detect, transcribed (yseq lengths count sos and eos)."""
    if len(ended_hyps) == 0:
        return False
    count = 0
    best_hyp = sorted(ended_hyps, key=lambda x: x["score"], reverse=True)[0]
    for m in range(M):
        hyps_same_length = [x for x in ended_hyps if x["yseq_len"] == i - m]
        if len(hyps_same_length) > 0:
            best_hyp_same_length = sorted(hyps_same_length, key=lambda x: x["score"], reverse=True)[0]
            if best_hyp_same_length["score"] - best_hyp["score"] < D_end:
                count += 1
    return count == M


@pytest.mark.parametrize("penalty", [0.0, 1.0])
def test_end_detection_stops_where_espnet_does(penalty):
    # The empty output ends at once with 0.9; later, eos is among the best beam candidates at every step (0.4,
    # beside A 0.3 and B 0.29), but those hypotheses fall ever further below it.
    tails = OracleDecoder({(): {EOS: 0.9, A: 0.05, B: 0.04}}, {EOS: 0.4, A: 0.3, B: 0.29})
    memory, mask, lengths = memory_batch([20])
    cfg = BeamSearchConfig(beam_size=2, length_penalty=penalty, early_stop="none")
    full, full_steps = counted_search(tails, cfg, memory, mask, lengths)
    detected, steps = counted_search(tails, BeamSearchConfig(**{**vars(cfg), "end_detect": 3}), memory, mask, lengths)
    assert full_steps == 31  # max length 30, eos forced at step 30
    # What ESPnet's end_detect decides on the same ended hypotheses (raw scores, whatever the length penalty):
    # at step s >= 1 the two live ones (A^s and A^(s-1) B) both end, the best with log(0.05 * 0.3^(s-1) * 0.4)
    ended, stop = [{"yseq_len": 2, "score": math.log(0.9)}], None
    for step in range(1, 31):
        ended.append({"yseq_len": step + 2, "score": math.log(0.05 * 0.3 ** (step - 1) * 0.4)})
        if espnet_end_detect(ended, step):
            stop = step
            break
    assert stop == 11 and steps == stop + 1
    assert_same_hypotheses(detected, full)
    assert detected[0][0].tokens == [] and detected[0][0].score == pytest.approx(math.log(0.9))
    # a smaller margin stops sooner
    _, sooner = counted_search(tails, BeamSearchConfig(**{**vars(cfg), "end_detect": 3, "end_detect_margin": 5.0}),
                               memory, mask, lengths)
    assert sooner < steps


@pytest.mark.parametrize("key, value", [("beam_size", 0), ("nbest", 6), ("ctc_weight", 1.5),
                                        ("early_stop", "sometimes"), ("no_repeat_ngram_size", -1),
                                        ("end_detect", -1), ("end_detect_margin", -1.0)])
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

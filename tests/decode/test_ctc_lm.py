"""CTC prefix beam search with a word n-gram LM: exact without the LM, LM flips an ambiguous word, alpha 0."""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from legokit.decode.ctc import ctc_greedy
from legokit.decode.ctc_lm import CTCLMConfig, CTCLMDecoder
from legokit.errors import LegokitError
from legokit.lm.ngram import ArpaLM, KneserNey

SP = "\u2581"
#: a character vocabulary in legokit's convention (blank, unk, bos, eos first), "▁" the word boundary
PIECES = ["<blank>", "<unk>", "<s>", "</s>", SP, "a", "c", "k", "t", "h", "e"]
ID = {p: i for i, p in enumerate(PIECES)}


def collapse(alignment: tuple[int, ...]) -> tuple[int, ...]:
    merged = [t for i, t in enumerate(alignment) if i == 0 or t != alignment[i - 1]]
    return tuple(t for t in merged if t != 0)


def most_probable_labelling(log_probs: np.ndarray) -> tuple[tuple[int, ...], float]:
    """Brute force over all V^T alignments: the output with the largest total probability."""
    totals: dict[tuple[int, ...], float] = {}
    for alignment in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        output = collapse(alignment)
        totals[output] = totals.get(output, 0.0) + math.exp(sum(log_probs[t, a] for t, a in enumerate(alignment)))
    best = max(totals, key=totals.get)
    return best, math.log(totals[best])


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> ArpaLM:
    """A bigram LM that knows "the cat" (many times) and "the hat", never "kat"."""
    sentences = [["the", "cat"]] * 20 + [["the", "hat"]] * 5 + [["a", "cat"]] * 3 + [["the", "tea"]] * 2
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    KneserNey(sentences, order=2).write_arpa(path)
    return ArpaLM(path)


def posteriors(frames: list[dict[str, float]]) -> np.ndarray:
    """(T, V) log-posteriors from per-frame {piece: probability}; the rest of each frame's mass is spread."""
    out = np.full((len(frames), len(PIECES)), 1e-4)
    for t, frame in enumerate(frames):
        for piece, p in frame.items():
            out[t, ID[piece]] = p
    return np.log(out / out.sum(1, keepdims=True))


def text(tokens: list[int]) -> str:
    return "".join(PIECES[t] for t in tokens).replace(SP, " ").strip()


def test_without_lm_the_search_finds_the_most_probable_labelling():
    rng = np.random.default_rng(0)
    search = CTCLMDecoder(["<blank>", "a", "b", SP], 0, CTCLMConfig(arpa="-", beam=64, token_min_logp=-1e9), None)
    for _ in range(8):
        log_probs = torch.randn(5, 4, generator=torch.Generator().manual_seed(int(rng.integers(1 << 30))))
        log_probs = (2 * log_probs).log_softmax(-1).double().numpy()
        tokens, score, ctc = search.decode(log_probs)
        best, logp = most_probable_labelling(log_probs)
        assert tuple(tokens) == best
        assert ctc == pytest.approx(logp) and score == pytest.approx(logp)


def test_lm_flips_an_acoustically_ambiguous_word_to_the_word_it_knows(lm: ArpaLM):
    # "▁the▁kat" is slightly more probable acoustically than "▁the▁cat" (k 0.55 vs c 0.45)
    frames = [{SP: 0.9}, {"t": 0.9}, {"h": 0.9}, {"e": 0.9}, {"<blank>": 0.9}, {SP: 0.9},
              {"k": 0.55, "c": 0.45}, {"a": 0.9}, {"t": 0.9}, {"<blank>": 0.9}]
    log_probs = posteriors(frames)
    assert text(ctc_greedy(torch.from_numpy(log_probs)[None], torch.tensor([len(frames)]), 0)[0]) == "the kat"
    cfg = CTCLMConfig(arpa="-", alpha=0.5, beta=1.0, beam=8, token_min_logp=-1e9)  # no pruning: exact CTC part
    with_lm = CTCLMDecoder(PIECES, 0, cfg, lm, skip=(1, 2, 3))
    tokens, score, ctc = with_lm.decode(log_probs)
    assert text(tokens) == "the cat"
    # ctc is the CTC log-probability of the output alone (F.ctc_loss); score adds the LM part
    target = torch.tensor([tokens])
    reference = -torch.nn.functional.ctc_loss(torch.from_numpy(log_probs)[:, None], target, torch.tensor([10]),
                                              torch.tensor([len(tokens)]), blank=0, reduction="sum")
    assert ctc == pytest.approx(reference.item(), abs=1e-6) and score != pytest.approx(ctc)
    no_lm = CTCLMDecoder(PIECES, 0, CTCLMConfig(arpa="-", alpha=0.0, beta=0.0, beam=8), lm, skip=(1, 2, 3))
    assert text(no_lm.decode(log_probs)[0]) == "the kat"


def test_lm_weight_zero_equals_the_search_without_lm_and_greedy_on_peaked_posteriors(lm: ArpaLM):
    rng = np.random.default_rng(1)
    cfg = CTCLMConfig(arpa="-", alpha=0.0, beta=0.0, beam=16, token_min_logp=-1e9)
    with_lm, without = CTCLMDecoder(PIECES, 0, cfg, lm, skip=(1, 2, 3)), CTCLMDecoder(PIECES, 0, cfg, None)
    for trial in range(6):
        logits = torch.from_numpy(rng.normal(size=(30, len(PIECES))))
        if trial % 2:  # peaked: one token dominates each frame, so the best path is the best labelling
            logits = 8 * torch.nn.functional.one_hot(logits.argmax(-1), len(PIECES)).double() + 0.1 * logits
        log_probs = logits.log_softmax(-1).numpy()
        tokens, score, ctc = with_lm.decode(log_probs)
        assert (tokens, score, ctc) == without.decode(log_probs)
        if trial % 2:
            assert tokens == ctc_greedy(torch.from_numpy(log_probs)[None], torch.tensor([30]), 0)[0]


def test_pruning_extensions_far_below_the_best_prefix_keeps_the_result_and_builds_fewer(lm: ArpaLM, monkeypatch):
    """prune_logp drops token extensions far below the frame's best prefix before they are built: a margin no
    path falls below changes nothing; a tight one on an utterance whose best path is clear builds fewer prefixes
    and finds the same words (the LM still flips "kat" to "cat")."""
    built = {"n": 0}
    extend = CTCLMDecoder._extend
    monkeypatch.setattr(CTCLMDecoder, "_extend",
                        lambda self, p, t: built.update(n=built["n"] + 1) or extend(self, p, t))

    def search(log_probs: np.ndarray, prune: float | None, beam: int = 16) -> tuple[tuple, int]:
        cfg = CTCLMConfig(arpa="-", alpha=0.5, beta=1.0, beam=beam, token_min_logp=-1e9, prune_logp=prune)
        built["n"] = 0
        result = CTCLMDecoder(PIECES, 0, cfg, lm, skip=(1, 2, 3)).decode(log_probs)
        return result, built["n"]

    rng = np.random.default_rng(2)
    for _ in range(4):
        log_probs = torch.from_numpy(rng.normal(size=(30, len(PIECES)))).log_softmax(-1).numpy()
        assert search(log_probs, -1e6)[0] == search(log_probs, None)[0]
    frames = [{SP: 0.9}, {"t": 0.9}, {"h": 0.9}, {"e": 0.9}, {"<blank>": 0.9}, {SP: 0.9},
              {"k": 0.55, "c": 0.45}, {"a": 0.9}, {"t": 0.9}, {"<blank>": 0.9}]
    (tokens, _, _), full = search(posteriors(frames), None, beam=8)
    (pruned_tokens, _, _), fewer = search(posteriors(frames), -5.0, beam=8)
    assert text(pruned_tokens) == text(tokens) == "the cat"
    assert fewer < full / 2, (fewer, full)


def test_word_pieces_and_cased_punctuated_output_are_scored_as_lm_words(lm: ArpaLM):
    # a cased BPE-like vocabulary: "▁The" starts a word; "Cat," is the LM word "cat"; "," alone is no word
    pieces = ["<blank>", "<unk>", "<s>", "</s>", f"{SP}The", f"{SP}Cat", f"{SP}Kat", ","]
    search = CTCLMDecoder(pieces, 0, CTCLMConfig(arpa="-", alpha=0.5, beta=1.0), lm, skip=(1, 2, 3))
    frames = np.full((4, len(pieces)), 1e-4)
    frames[0, 4], frames[1, 6], frames[1, 5], frames[2, 7], frames[3, 0] = 0.9, 0.55, 0.45, 0.9, 0.9
    tokens, _, _ = search.decode(np.log(frames / frames.sum(1, keepdims=True)))
    assert [pieces[t] for t in tokens] == [f"{SP}The", f"{SP}Cat", ","]
    assert search._lm_words("Cat,") == ["cat"] and search._lm_words(",") == []


def test_ctc_lm_config_needs_an_arpa_file():
    from legokit.config import from_dict

    with pytest.raises(LegokitError, match="ctc_lm.arpa is required"):
        from_dict(CTCLMConfig, {"alpha": 0.3})
    with pytest.raises(LegokitError, match="key 'beam' must be in"):
        from_dict(CTCLMConfig, {"arpa": "lm.arpa", "beam": 0})
    with pytest.raises(LegokitError, match="ARPA language model not found"):
        ArpaLM(Path("no-such.arpa"))

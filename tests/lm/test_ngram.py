"""Word n-gram LM: interpolated modified Kneser-Ney estimation, ARPA writing/reading, kenlm agreement, CLI."""

import math
import os
import random
from pathlib import Path

import pytest

from legokit.cli import main
from legokit.errors import LegokitError
from legokit.lm.ngram import EOS, UNK, ArpaLM, KneserNey, discounts, read_sentences, train_arpa

WORDS = "the cat sat on a mat dog ran to red big house".split()
CONTEXTS = [(), ("<s>",), ("the",), ("<s>", "cat"), ("cat", "sat"), ("zzz", "the"), ("dog", "dog"), ("on", "zzz")]


def corpus(n: int = 400, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(WORDS[: rng.randint(3, len(WORDS))]) for _ in range(rng.randint(1, 9))] for _ in range(n)]


@pytest.fixture(scope="module")
def trigram(tmp_path_factory: pytest.TempPathFactory) -> tuple[KneserNey, Path]:
    model = KneserNey(corpus(), order=3)
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    model.write_arpa(path)
    return model, path


def test_modified_discounts_follow_chen_goodman_and_fall_back_on_tiny_counts():
    counts = [1] * 10 + [2] * 4 + [3] * 2 + [4] * 1 + [9] * 5  # t1..t4 = 10, 4, 2, 1
    y = 10 / (10 + 2 * 4)
    (d1, d2, d3), fell_back = discounts(counts)
    assert not fell_back
    assert (d1, d2, d3) == pytest.approx((1 - 2 * y * 4 / 10, 2 - 3 * y * 2 / 4, 3 - 4 * y * 1 / 2))
    assert discounts([1, 1, 2, 3]) == ((0.5, 1.0, 1.5), True)  # no n-gram seen 4 times


def test_model_is_a_distribution_over_the_vocabulary_and_end_of_sentence(trigram):
    model, _ = trigram
    assert EOS in model.vocab and UNK in model.vocab and "<s>" not in model.vocab
    for context in CONTEXTS:
        assert sum(model.prob(w, context) for w in model.vocab) == pytest.approx(1.0, abs=1e-9), context
    assert 0 < model.prob("zzz", ("the",)) == model.prob(UNK, ("the",))


def test_arpa_file_read_back_gives_the_model_probabilities(trigram):
    model, path = trigram
    lm = ArpaLM(path)
    assert lm.order == 3 and lm.vocab == set(model.vocab) | {"<s>"}
    for context in CONTEXTS:
        for word in [*model.vocab, "zzz"]:
            assert lm.logp(word, context) == pytest.approx(math.log(model.prob(word, context)), abs=1e-5)
    sentence = "the cat sat on the zzz mat".split()
    expected = sum(math.log(model.prob(w, ("<s>", *sentence)[max(i - 1, 0):i + 1]))
                   for i, w in enumerate([*sentence, EOS]))
    assert lm.score_sentence(sentence) == pytest.approx(expected, abs=1e-4)


def test_kenlm_reads_the_arpa_file_as_a_proper_distribution_with_our_scores(trigram):
    # kenlm is the optional extra 'lm' (pip install -e '.[lm]'), which `make install` installs: CI must not skip
    kenlm = __import__("kenlm") if os.environ.get("CI") else pytest.importorskip("kenlm")
    model, path = trigram
    k = kenlm.Model(str(path))
    assert k.order == 3
    for context in CONTEXTS:
        state = kenlm.State()
        k.BeginSentenceWrite(state) if context[:1] == ("<s>",) else k.NullContextWrite(state)
        for word in context[1:] if context[:1] == ("<s>",) else context:
            out = kenlm.State()
            k.BaseScore(state, word, out)
            state = out
        scores = {w: k.BaseScore(state, w, kenlm.State()) for w in model.vocab}
        assert sum(10 ** s for s in scores.values()) == pytest.approx(1.0, abs=1e-5), context
        for word, score in scores.items():
            assert score == pytest.approx(math.log10(model.prob(word, context)), abs=1e-5), (context, word)
    sentence = "the cat sat on the zzz mat"
    assert k.score(sentence) * math.log(10) == pytest.approx(ArpaLM(path).score_sentence(sentence.split()), abs=1e-4)


def test_text_is_read_in_the_asr_scoring_form(tmp_path: Path):
    kaldi = tmp_path / "text"
    kaldi.write_text("u1 Use ALSA's PCM plug-in.\nu2\nu3 <s> Hello, World!\n", encoding="utf-8")
    assert list(read_sentences(kaldi, kaldi_text=True)) == [["use", "alsa's", "pcm", "plug", "in"],
                                                             ["hello", "world"]]
    plain = tmp_path / "plain.txt"
    plain.write_text("u1 The Cat.\n", encoding="utf-8")
    assert list(read_sentences(plain)) == [["u1", "the", "cat"]]


def test_lm_train_command_writes_an_arpa_file(tmp_path: Path):
    text = tmp_path / "text"
    text.write_text("".join(f"u{i} {' '.join(s)}\n" for i, s in enumerate(corpus(100))), encoding="utf-8")
    out = tmp_path / "lm" / "lm.arpa"
    assert main(["lm", "train", "--text", str(text), "--kaldi-text", "--order", "2", "--out", str(out)]) == 0
    assert out.read_text().startswith("\\data\\\nngram 1=")
    assert ArpaLM(out).order == 2
    model = train_arpa([text], tmp_path / "again.arpa", order=2, kaldi_text=True)
    assert ArpaLM(out).logp("cat", ("the",)) == pytest.approx(math.log(model.prob("cat", ("the",))), abs=1e-5)


def test_lm_train_refuses_missing_text_and_empty_text(tmp_path: Path):
    with pytest.raises(LegokitError, match="LM training text not found"):
        train_arpa([tmp_path / "nope.txt"], tmp_path / "lm.arpa")
    empty = tmp_path / "empty.txt"
    empty.write_text("...\n\n", encoding="utf-8")
    with pytest.raises(LegokitError, match="no sentence"):
        train_arpa([empty], tmp_path / "lm.arpa")
    assert not (tmp_path / "lm.arpa").exists()


def test_arpa_reader_names_the_bad_line(tmp_path: Path):
    bad = tmp_path / "bad.arpa"
    bad.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\tthe\n-x\tcat\n\\end\\\n", encoding="utf-8")
    with pytest.raises(LegokitError, match=r"bad.arpa:6: not a number"):
        ArpaLM(bad)
    with pytest.raises(LegokitError, match="not an ARPA file"):
        (tmp_path / "x.arpa").write_text("hello\n")
        ArpaLM(tmp_path / "x.arpa")

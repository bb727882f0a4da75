"""METEOR offline: nltk over WordNet 3.0 from Debian's wordnet-base package (fetched once, cached)."""
import gzip

import pytest

from legokit.errors import LegokitError
from legokit.score.meteor import lexnames_from_manpage, meteor, tokenize, wordnet_root
from legokit.score.metrics import DEFAULT_METRICS, compute


@pytest.fixture(scope="module")
def download_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("debian")


def test_lexnames_rebuilt_from_the_package_manpage(download_dir):
    root = wordnet_root(download_dir)
    lines = (root / "lexnames").read_text().splitlines()
    assert len(lines) == 45 and lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1"
    assert lines[44] == "44\tadj.ppl\t3"
    manpage = root.parent / "man/man5/lexnames.5WN.gz"
    assert lexnames_from_manpage(manpage) == (root / "lexnames").read_text()


def test_meteor_by_hand_and_wordnet_synonyms(download_dir):
    # "a table runs" vs "a dog runs": 2 unigram matches in 2 chunks, P = R = 2/3,
    # Fmean = PR / (0.9 P + 0.1 R) = 2/3, penalty = 0.5 * (2 chunks / 2 matches)^3 = 0.5 -> 1/3
    assert meteor(["a dog runs"], ["a table runs"], download_dir) == pytest.approx(100 / 3)
    # "hound" is a WordNet synonym of "dog": it matches, so the score is that of an exact hypothesis
    synonym = meteor(["a dog runs"], ["a hound runs"], download_dir)
    assert synonym == pytest.approx(meteor(["a dog runs"], ["a dog runs"], download_dir)) and synonym > 95


def test_tokenize_splits_punctuation_and_lowercases():
    assert tokenize("Fast, GPU-free decoding.") == ["fast", ",", "gpu", "-", "free", "decoding", "."]


@pytest.mark.parametrize("rows, match", [
    ("00\tadj.all\tall adjective clusters\n01\tadj.pert\trelational adjectives\n", "expected the 45"),
    ("00\tadj.all\tall adjective clusters\n01\tpronoun.x\tnot a category\n", "01 is named 'pronoun.x'"),
])
def test_broken_manpage_is_an_error_naming_it(tmp_path, rows, match):
    manpage = tmp_path / "lexnames.5WN.gz"
    with gzip.open(manpage, "wt") as out:
        out.write(".SH DESCRIPTION\n" + rows)
    with pytest.raises(LegokitError, match=f"lexnames.5WN.gz: .*{match}"):
        lexnames_from_manpage(manpage)


def test_bad_wordnet_directory_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGOKIT_WORDNET", str(tmp_path))
    with pytest.raises(LegokitError, match="LEGOKIT_WORDNET=.*data.noun"):
        wordnet_root()


def test_meteor_is_a_metric_but_not_a_default_one(download_dir, monkeypatch):
    monkeypatch.setenv("LEGOKIT_WORDNET", str(wordnet_root(download_dir)))
    assert "meteor" not in DEFAULT_METRICS
    assert compute(["meteor"], ["a dog runs"], ["a table runs"]) == {"meteor": pytest.approx(100 / 3)}

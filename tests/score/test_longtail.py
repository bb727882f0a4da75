"""Bucketed token F-measure on tiny hand-checked inputs; `legokit analyze longtail`."""

import json
from collections import Counter
from pathlib import Path

import pytest
import sentencepiece

from legokit.cli import main
from legokit.errors import LegokitError
from legokit.score.longtail import Bucket, analyze, bucketed_fmeasure, make_tokenizer, parse_buckets

TRAIN = ["a a a b", "b c"]  # a: 3, b: 2, c: 1, d/e unseen
REFS = ["a b c d", "a"]
HYPS = ["a a b e", ""]


def test_parse_buckets_adds_unseen_and_open_ends():
    assert [b.name for b in parse_buckets("1,2,3-9,10-99")] == ["0", "1", "2", "3-9", "10-99", "100+"]
    assert [b.name for b in parse_buckets("1,2,3-9,10+")] == ["0", "1", "2", "3-9", "10+"]
    assert [b.name for b in parse_buckets("0,1-4")] == ["0", "1-4", "5+"]
    assert [b.name for b in parse_buckets("5+")] == ["0-4", "5+"]
    assert 7 in Bucket(5, None) and 4 not in Bucket(5, 9)


@pytest.mark.parametrize("spec, message", [("1,3", "not contiguous"), ("1,x", "cannot read 'x'"),
                                           ("1+,2", "not contiguous"), ("3-1", "0 <= A <= B"), ("", "no buckets")])
def test_parse_buckets_errors(spec, message):
    with pytest.raises(LegokitError, match=message):
        parse_buckets(spec)


def test_bucketed_fmeasure_by_hand():
    stats = bucketed_fmeasure(Counter("a a a b b c".split()), [r.split() for r in REFS],
                              [h.split() for h in HYPS], parse_buckets("1,2,3+"))
    by_name = {s.bucket: s for s in stats}
    # 3+ (a): ref 1+1, hyp 2+0, matched min(1,2) in sentence 1 only -> P = R = 1/2
    assert (by_name["3+"].ref, by_name["3+"].hyp, by_name["3+"].matched) == (2, 2, 1)
    assert by_name["3+"].fmeasure == pytest.approx(0.5)
    assert by_name["2"].fmeasure == 1.0  # b matched once
    c = by_name["1"]  # c: reference only
    assert (c.ref, c.hyp, c.matched, c.precision, c.recall, c.fmeasure) == (1, 0, 0, 0.0, 0.0, 0.0)
    unseen = by_name["0"]  # d in the reference, e in the hypothesis
    assert (unseen.ref, unseen.hyp, unseen.matched) == (1, 1, 0)


def test_analyze_counts_train_types_and_systems():
    result = analyze(TRAIN, REFS, {"sys": HYPS, "oracle": REFS}, parse_buckets("1,2,3+"), str.split)
    assert result["buckets"] == ["0", "1", "2", "3+"]
    assert result["train_types"] == [0, 1, 1, 1]
    assert [s["fmeasure"] for s in result["systems"]["oracle"]] == [1.0, 1.0, 1.0, 1.0]  # d unseen but matched


def test_tokenizers(tmp_path):
    assert make_tokenizer("13a")("Hello, world.") == ["Hello", ",", "world", "."]
    assert make_tokenizer("word")("Hello, world.") == ["Hello,", "world."]
    text = tmp_path / "text"
    text.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 20)
    sentencepiece.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / "m"), vocab_size=18,
                                             minloglevel=2)
    pieces = make_tokenizer(f"spm:{tmp_path / 'm.model'}")("the cat")
    assert "".join(pieces).replace("\u2581", " ").strip() == "the cat"
    with pytest.raises(LegokitError, match="not found"):
        make_tokenizer("spm:/nonexistent.model")
    with pytest.raises(LegokitError, match="expected word, 13a or spm:MODEL"):
        make_tokenizer("bpe")


def test_cli_longtail(tmp_path, capsys):
    for name, lines in (("train", TRAIN), ("ref", REFS), ("hyp", HYPS)):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    png, out = tmp_path / "plots" / "lt.png", tmp_path / "lt.json"
    assert main(["analyze", "longtail", "--train-ref", str(tmp_path / "train"), "--ref", str(tmp_path / "ref"),
                 "--hyp", str(tmp_path / "hyp"), "--labels", "sys", "--buckets", "1,2,3+", "--tokenize",
                 "word", "--png", str(png), "--json", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["bucket", "train"]
    assert table[-1].split() == ["3+", "1", "2", "(40.0)", "2", "(50.0)", "0.5000"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(out.read_text())["systems"]["sys"][3]["matched"] == 1
    assert main(["analyze", "longtail", "--train-ref", str(tmp_path / "train"), "--ref", str(tmp_path / "ref"),
                 "--hyp", str(tmp_path / "hyp"), "--labels", "a,b"]) == 2


def test_fixture_files_run(capsys):
    fixtures = Path(__file__).parent.parent / "fixtures" / "score"
    assert main(["analyze", "longtail", "--train-ref", str(fixtures / "ref.kaldi"), "--kaldi",
                 "--ref", str(fixtures / "ref.kaldi"), "--hyp", str(fixtures / "hyp.kaldi")]) == 0
    assert "hyp.kaldi F" in capsys.readouterr().out

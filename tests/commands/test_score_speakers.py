"""`legokit score ... --kaldi --utt2spk` and `legokit results --utt2spk`: per-speaker lines after the corpus
scores, "speakers" in the JSON, results.json and RESULTS.md; one-line errors for bad use."""

import json
from pathlib import Path

import pytest

from legokit.cli import main
from legokit.score.results import load_record

REFS = {"f3-1": "the cat sat on the mat", "f3-2": "a dog", "m1-1": "hello world again", "m1-2": "one two three"}
HYPS = {"f3-1": "the cat sat on the mat", "f3-2": "a frog", "m1-1": "hello word"}  # m1-2: no hypothesis
UTT2SPK = {"f3-1": "en+f3", "f3-2": "en+f3", "m1-1": "en+m1", "m1-2": "en+m1"}


def _write(path: Path, entries: dict[str, str]) -> str:
    path.write_text("".join(f"{key} {value}\n" for key, value in entries.items()))
    return str(path)


@pytest.fixture
def args(tmp_path):
    return ["--ref", _write(tmp_path / "text", REFS), "--hyp", _write(tmp_path / "hyp", HYPS), "--kaldi",
            "--utt2spk", _write(tmp_path / "utt2spk", UTT2SPK)]


def test_score_prints_speakers_after_the_corpus_lines(args, capsys):
    assert main(["score", "wer", *args, "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # f3: 1 error of 8 words; m1: 2 errors of 3 + 3 deletions (no hypothesis) of 3; all: 6 of 14
    assert lines[:5] == ["wer\t42.86", "missing\t1", "speaker\tutts\twords\twer\tmissing",
                         "en+f3\t2\t8\t12.50\t0", "en+m1\t2\t6\t83.33\t1"]
    scores = json.loads(lines[-1])
    assert scores["speakers"] == {
        "en+f3": {"utts": 2, "words": 8, "word_errors": 1, "wer": 12.5},
        "en+m1": {"utts": 2, "words": 6, "word_errors": 5, "wer": pytest.approx(500 / 6), "missing": 1}}
    errors = sum(s["word_errors"] for s in scores["speakers"].values())
    assert scores["wer"] == pytest.approx(100 * errors / sum(s["words"] for s in scores["speakers"].values()))


def test_score_all_keeps_speakers_for_wer_and_cer_only(args, capsys, tmp_path):
    out = tmp_path / "scores.json"
    assert main(["score", "all", "--metrics", "bleu,cer,wer", *args, "--output", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[4] == "speaker\tutts\twords\twer\tchars\tcer\tmissing"
    record = json.loads(out.read_text())
    assert set(record) == {"bleu", "cer", "wer", "missing", "speakers"}
    assert set(record["speakers"]["en+f3"]) == {"utts", "words", "word_errors", "wer", "chars", "char_errors", "cer"}
    # the scores file, speakers included, is what `legokit results --scores` records
    exp = tmp_path / "exp"
    assert main(["results", "--exp-dir", str(exp), "--test-set", "test", "--scores", str(out)]) == 0
    assert load_record(exp)["sets"]["test"]["speakers"] == record["speakers"]
    assert "### test: per speaker" in (exp / "RESULTS.md").read_text()


def test_results_records_speakers(args, capsys, tmp_path):
    exp = tmp_path / "exp"
    assert main(["results", "--exp-dir", str(exp), "--test-set", "test", *args, "--metrics", "wer,cer"]) == 0
    entry = load_record(exp)["sets"]["test"]
    assert entry["scores"]["wer"] == pytest.approx(600 / 14) and entry["scores"]["missing"] == 1
    assert entry["files"]["utt2spk"] == args[-1] and list(entry["speakers"]) == ["en+f3", "en+m1"]
    text = (exp / "RESULTS.md").read_text()
    assert "| speaker | utterances | ref. words | WER | ref. chars | CER | missing hyps |" in text
    assert "| en+m1 | 2 | 6 | 83.33 |" in text and "| **all** | 4 | 14 | 42.86 |" in text
    assert "| en+f3 | 2 | 8 | 12.50 |" in capsys.readouterr().out


def test_results_without_per_speaker_metrics_records_no_speakers(args, tmp_path):
    exp = tmp_path / "exp"
    assert main(["results", "--exp-dir", str(exp), "--test-set", "test", *args, "--metrics", "bleu"]) == 0
    assert "speakers" not in load_record(exp)["sets"]["test"]
    assert "per speaker" not in (exp / "RESULTS.md").read_text()


@pytest.mark.parametrize("command", ["score", "results"])
def test_utterance_missing_from_utt2spk_is_a_one_line_error(args, capsys, tmp_path, command):
    _write(Path(args[-1]), {k: v for k, v in UTT2SPK.items() if k != "m1-2"})
    extra = ["wer"] if command == "score" else ["--exp-dir", str(tmp_path / "exp"), "--test-set", "t",
                                                "--metrics", "wer"]
    assert main([command, *extra, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"legokit {command}: error: {args[-1]}: no speaker for utterance 'm1-2' of the reference; "
                       "expected '<utterance id> <speaker>' lines covering every reference id (--utt2spk)")
    assert not (tmp_path / "exp").exists()


def test_utt2spk_misuse(args, capsys, tmp_path):
    plain = [a for a in args if a != "--kaldi"]
    assert main(["score", "wer", *plain]) == 2
    assert "--utt2spk needs --kaldi" in capsys.readouterr().err
    assert main(["score", "wer", *args, "--compare", args[3]]) == 2
    assert "not used with --compare" in capsys.readouterr().err
    scores = tmp_path / "s.json"
    scores.write_text('{"wer": 1.0}')
    assert main(["results", "--exp-dir", str(tmp_path / "e"), "--test-set", "t", "--scores", str(scores),
                 "--kaldi", "--utt2spk", args[-1]]) == 2
    assert "--utt2spk needs --kaldi --ref/--hyp" in capsys.readouterr().err
    assert main(["score", "wer", *args[:-1], str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err

"""Metrics and `legokit score` against the libraries' own APIs on the same files."""

import json
from pathlib import Path

import jiwer
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from legokit.cli import main
from legokit.errors import LegokitError
from legokit.score.io import read_kaldi, read_lines, read_pair
from legokit.score.metrics import compute, parse_metrics

FIXTURES = Path(__file__).parent.parent / "fixtures" / "score"
REF, HYP = FIXTURES / "ref.txt", FIXTURES / "hyp.txt"


def _library_scores(refs: list[str], hyps: list[str]) -> dict[str, float]:
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rouge = [scorer.score(r, h) for r, h in zip(refs, hyps)]
    return {
        "bleu": sacrebleu.corpus_bleu(hyps, [refs]).score,
        "chrf": sacrebleu.corpus_chrf(hyps, [refs]).score,
        "wer": 100 * jiwer.wer(refs, hyps),
        "cer": 100 * jiwer.cer(refs, hyps),
        **{k: 100 * sum(s[k].fmeasure for s in rouge) / len(rouge) for k in ("rouge1", "rouge2", "rougeL")},
    }


def test_read_lines_keeps_empty_hypothesis():
    hyps = read_lines(HYP)
    assert len(hyps) == 6 and hyps[-1] == ""


def test_kaldi_matches_by_id():
    ids, refs, hyps = read_pair(FIXTURES / "ref.kaldi", FIXTURES / "hyp.kaldi", kaldi=True)
    assert ids == [f"utt{i}" for i in range(1, 7)]
    assert refs == read_lines(REF) and hyps == read_lines(HYP)


def test_cli_json_matches_libraries(capsys):
    assert main(["score", "all", "--ref", str(REF), "--hyp", str(HYP), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = _library_scores(read_lines(REF), read_lines(HYP))
    assert list(scores) == ["bleu", "chrf", "wer", "cer", "rouge1", "rouge2", "rougeL"]
    assert scores == pytest.approx(expected, abs=1e-9)
    assert 0 < scores["bleu"] < 100 and scores["wer"] > 0


@pytest.mark.parametrize("metric, keys", [("bleu", ["bleu"]), ("wer", ["wer"]),
                                          ("rouge", ["rouge1", "rouge2", "rougeL"])])
def test_cli_single_metric_kaldi(capsys, metric, keys):
    args = ["score", metric, "--ref", str(FIXTURES / "ref.kaldi"), "--hyp", str(FIXTURES / "hyp.kaldi")]
    assert main([*args, "--kaldi", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(scores) == keys
    expected = _library_scores(read_lines(REF), read_lines(HYP))
    assert scores == pytest.approx({k: expected[k] for k in keys})


def test_cli_output_file(tmp_path, capsys):
    out = tmp_path / "sub" / "scores.json"
    assert main(["score", "all", "--metrics", "bleu,chrf", "--ref", str(REF), "--hyp", str(REF),
                 "--output", str(out)]) == 0
    assert json.loads(out.read_text()) == pytest.approx({"bleu": 100.0, "chrf": 100.0})
    assert "bleu\t100.00" in capsys.readouterr().out


def test_hand_computed_error_rates():
    scores = compute(["wer", "cer"], ["a b c d", "e f"], ["a x c d", ""])
    assert scores["wer"] == pytest.approx(100 * 3 / 6)  # 1 substitution + 2 deletions over 6 words
    assert scores["cer"] == pytest.approx(100 * 4 / 10)  # 'b'->'x' + 'e f' deleted (3 chars) over 10


def test_line_count_mismatch_names_both_files(tmp_path, capsys):
    short = tmp_path / "short.txt"
    short.write_text("one line\n")
    with pytest.raises(LegokitError, match=rf"{REF} has 6 lines but {short} has 1"):
        read_pair(REF, short)
    assert main(["score", "bleu", "--ref", str(REF), "--hyp", str(short)]) == 2
    assert "6 lines" in capsys.readouterr().err


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(LegokitError, match="empty.txt: file is empty"):
        read_pair(REF, empty)
    with pytest.raises(LegokitError, match="no such file"):
        read_pair(REF, tmp_path / "nope.txt")


def test_kaldi_missing_extra_and_duplicate_ids(tmp_path):
    hyp = tmp_path / "hyp"
    hyp.write_text("utt1 a\nutt9 b\n")
    with pytest.raises(LegokitError, match=r"5 id\(s\) of .*ref.kaldi missing from .*hyp: utt2, utt3") as err:
        read_pair(FIXTURES / "ref.kaldi", hyp, kaldi=True)
    assert "utt9" in str(err.value)
    hyp.write_text("utt1 a\nutt1 b\n")
    with pytest.raises(LegokitError, match=r"hyp:2: duplicate id 'utt1'"):
        read_kaldi(hyp)


def test_metric_option_errors():
    with pytest.raises(LegokitError, match="unknown metric.*bertscore"):
        parse_metrics("bleu,bertscore")
    with pytest.raises(SystemExit):
        main(["score", "bertscore", "--ref", str(REF), "--hyp", str(HYP)])
    assert main(["score", "bleu", "--metrics", "chrf", "--ref", str(REF), "--hyp", str(HYP)]) == 2

"""Per-speaker WER/CER (--utt2spk): speakers' error and reference counts add up to the corpus score, missing
hypotheses are deletions counted per speaker, and results.json / RESULTS.md keep a per-speaker table."""

import json
from pathlib import Path

import jiwer
import pytest

from legokit.errors import LegokitError
from legokit.score.metrics import cer, score_files, wer
from legokit.score.results import load_record, read_scores_file, read_scores_json, update_results
from legokit.score.speakers import (
    format_speaker_lines,
    read_utt2spk,
    score_files_by_speaker,
    speaker_markdown,
    speaker_scores,
    speakers_of,
    total_record,
)

REFS = {"a1": "the cat sat on the mat", "a2": "a dog", "b1": "hello world again", "b2": "one two three four",
        "b3": "", "c1": "only speaker c here"}
HYPS = {"a1": "the cat sad on mat", "a2": "a dog barks", "b1": "hello word again now", "b3": "noise",
        "c1": "only speaker see here"}  # b2 has no hypothesis: scored as an empty one, all 4 words deleted
UTT2SPK = {"a1": "spkA", "a2": "spkA", "b1": "spkB", "b2": "spkB", "b3": "spkB", "c1": "spkC"}


def _write(path: Path, entries: dict[str, str]) -> Path:
    path.write_text("".join(f"{key} {value}\n" for key, value in entries.items()))
    return path


@pytest.fixture
def files(tmp_path):
    return (_write(tmp_path / "ref", REFS), _write(tmp_path / "hyp", HYPS), _write(tmp_path / "utt2spk", UTT2SPK))


def test_speakers_sum_to_the_corpus_score(files):
    ref, hyp, utt2spk = files
    scores, speakers = score_files_by_speaker(ref, hyp, ["wer", "cer"], utt2spk)
    assert scores == score_files(ref, hyp, ["wer", "cer"], kaldi=True, count_missing=True)
    assert list(speakers) == ["spkA", "spkB", "spkC"]
    words = sum(s["words"] for s in speakers.values())
    chars = sum(s["chars"] for s in speakers.values())
    assert 100 * sum(s["word_errors"] for s in speakers.values()) / words == pytest.approx(scores["wer"], abs=1e-12)
    assert 100 * sum(s["char_errors"] for s in speakers.values()) / chars == pytest.approx(scores["cer"], abs=1e-12)
    refs, hyps = list(REFS.values()), [HYPS.get(key, "") for key in REFS]
    assert scores["wer"] == pytest.approx(wer(refs, hyps)) and scores["cer"] == pytest.approx(cer(refs, hyps))
    assert words == sum(len(r.split()) for r in refs) == 19
    total = total_record(speakers)
    assert total["utts"] == len(REFS) and total["missing"] == 1
    assert total["wer"] == pytest.approx(scores["wer"]) and total["cer"] == pytest.approx(scores["cer"])


def test_each_speaker_is_jiwer_on_its_utterances(files):
    ref, hyp, utt2spk = files
    _, speakers = score_files_by_speaker(ref, hyp, ["wer", "cer"], utt2spk)
    for speaker, record in speakers.items():
        ids = [key for key in REFS if UTT2SPK[key] == speaker]
        refs, hyps = [REFS[key] for key in ids], [HYPS.get(key, "") for key in ids]
        assert record["utts"] == len(ids)
        assert record["wer"] == pytest.approx(100 * jiwer.wer(refs, hyps))
        assert record["cer"] == pytest.approx(100 * jiwer.cer(refs, hyps))
    # hand-counted: spkA 1 sub + 1 del + 1 ins of 8 words; spkB 1 sub + 1 ins + 4 del (b2 missing) + 1 ins (b3) of 7
    assert (speakers["spkA"]["word_errors"], speakers["spkA"]["words"]) == (3, 8)
    assert (speakers["spkB"]["word_errors"], speakers["spkB"]["words"]) == (7, 7)
    assert speakers["spkB"]["missing"] == 1 and "missing" not in speakers["spkA"]


def test_metrics_without_per_speaker_scores_are_left_out(files, caplog):
    ref, hyp, utt2spk = files
    with caplog.at_level("INFO", logger="legokit.score.speakers"):
        scores, speakers = score_files_by_speaker(ref, hyp, ["bleu", "wer"], utt2spk)
    assert set(scores) == {"bleu", "wer", "missing"}
    assert set(speakers["spkA"]) == {"utts", "words", "word_errors", "wer"}
    assert [r.getMessage() for r in caplog.records if r.name == "legokit.score.speakers"] == [
        "--utt2spk: per-speaker scores are given for wer and cer only; none for bleu"]
    assert score_files_by_speaker(ref, hyp, ["bleu"], utt2spk)[1] is None


def test_speaker_without_reference_words_has_no_score():
    speakers = speaker_scores(["x", "y"], ["", "a b"], ["noise", "a b"], ["s1", "s2"], ["wer"])
    assert speakers["s1"] == {"utts": 1, "words": 0, "word_errors": 1, "wer": None}
    assert "| s1 | 1 | 0 | - |" in speaker_markdown(speakers)
    assert total_record(speakers)["wer"] == pytest.approx(50.0)


def test_utterance_missing_from_utt2spk_names_file_and_id(files):
    ref, hyp, utt2spk = files
    _write(utt2spk, {k: v for k, v in UTT2SPK.items() if k != "b1"})
    with pytest.raises(LegokitError, match=r"utt2spk: no speaker for utterance 'b1' of the reference;") as err:
        score_files_by_speaker(ref, hyp, ["wer"], utt2spk)
    assert "\n" not in str(err.value)
    with pytest.raises(LegokitError, match=r"'a1' of the reference \(2 of the 3 reference ids are not in it\)"):
        speakers_of(["a1", "a2", "b1"], {"b1": "s"}, "u2s")


@pytest.mark.parametrize("text, message", [
    ("u1 s1\nu2\n", r"utt2spk:2: expected '<utterance id> <speaker>', got 'u2'"),
    ("u1 s1 extra\n", r"utt2spk:1: expected '<utterance id> <speaker>', got 'u1 s1 extra'"),
    ("u1 s1\nu1 s2\n", r"utt2spk:2: duplicate utterance id 'u1'"),
])
def test_malformed_utt2spk(tmp_path, text, message):
    (tmp_path / "utt2spk").write_text(text)
    with pytest.raises(LegokitError, match=message):
        read_utt2spk(tmp_path / "utt2spk")


def test_lines_and_markdown(files):
    ref, hyp, utt2spk = files
    _, speakers = score_files_by_speaker(ref, hyp, ["wer"], utt2spk)
    lines = format_speaker_lines(speakers).splitlines()
    assert lines[0] == "speaker\tutts\twords\twer\tmissing"
    assert lines[1] == "spkA\t2\t8\t37.50\t0" and lines[2] == "spkB\t3\t7\t100.00\t1"
    table = speaker_markdown(speakers).splitlines()
    assert table[0] == "| speaker | utterances | ref. words | WER | missing hyps |"
    assert table[-1] == "| **all** | 6 | 19 | 57.89 | 1 |"


def test_results_record_and_render_speakers(files, tmp_path):
    ref, hyp, utt2spk = files
    scores, speakers = score_files_by_speaker(ref, hyp, ["wer", "cer"], utt2spk)
    exp = tmp_path / "exp"
    update_results(exp, "dev", {"wer": 1.0})
    md = update_results(exp, "test", scores, files={"utt2spk": str(utt2spk)}, speakers=speakers)
    entry = load_record(exp)["sets"]["test"]
    assert entry["speakers"] == json.loads(json.dumps(speakers)) and entry["scores"] == scores
    text = md.read_text()
    assert "### test: per speaker" in text and "### dev" not in text
    assert text.index("## Scores") < text.index("| test | ") < text.index("### test: per speaker")
    spk_b = speakers["spkB"]
    assert f"| spkB | 3 | 7 | 100.00 | {spk_b['chars']} | {spk_b['cer']:.2f} | 1 |" in text
    md = update_results(exp, "test", scores)  # re-scored without utt2spk: the speakers go with the old entry
    assert "per speaker" not in md.read_text() and "speakers" not in load_record(exp)["sets"]["test"]


def test_scores_file_with_speakers(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps({"wer": 10.0, "speakers": {"s": {"utts": 1, "words": 10, "wer": 10.0}}}))
    assert read_scores_file(path) == ({"wer": 10.0}, {"s": {"utts": 1, "words": 10, "wer": 10.0}})
    assert read_scores_json(path) == {"wer": 10.0}
    path.write_text(json.dumps({"wer": 10.0, "speakers": {"s": 3}}))
    with pytest.raises(LegokitError, match=r"scores.json: \"speakers\" must be an object of speaker"):
        read_scores_file(path)

"""The reuse table's paired-bootstrap columns: the numbers `legokit score <metric> --compare` prints for the
files each results.json records, "n/a" cells for missing files, and rows marked "not converged"."""
import json

import numpy as np
import pytest

from legokit.cli import main
from legokit.score.reuse_table import MAX_CONVERGED_WER, MIN_CONVERGED_BLEU, reuse_rows

WORDS = ("gnu c compiler for arm debian package python yaml parser documentation of the library font "
         "malayalam language fast decoder free data set").split()
ASR_ERRORS = {"asr_baseline": 0.35, "asr_zeroshot": 0.25, "asr_finetune": 0.12}  # fraction of words replaced
MT_ERRORS = {"ro_en_baseline": 0.5, "ro_en_zeroshot": 0.4, "ro_en_finetune": 0.3}


def _corrupt(words, rate, rng):
    """Each word replaced with probability ``rate``: by another word, or by one of no reference (rate 1)."""
    return [(rng.choice(WORDS) if rate < 1 else "zzz") if rng.random() < rate else w for w in words]


def _recipe(root, monkeypatch, asr_errors=ASR_ERRORS, mt_errors=MT_ERRORS):
    """A recipe dir as egs/lego_reuse/lego1 leaves it: Kaldi ref/hyp files and exp/<sys>/results.json
    written by `legokit results` run from the recipe dir with relative paths."""
    rng = np.random.default_rng(0)
    sentences = [[rng.choice(WORDS) for _ in range(8)] for _ in range(40)]
    ids = [f"utt{i:02d}" for i in range(len(sentences))]
    root.mkdir()
    monkeypatch.chdir(root)
    (root / "data").mkdir()
    (root / "data" / "text").write_text("".join(f"{u} {' '.join(s)}\n" for u, s in zip(ids, sentences)))
    for systems, metrics in ((asr_errors, "wer,cer"), (mt_errors, "bleu,chrf")):
        for name, rate in systems.items():
            hyp = root / "exp" / name / "decode_test" / "hyp"
            hyp.parent.mkdir(parents=True)
            hyp.write_text("".join(f"{u} {' '.join(_corrupt(s, rate, rng))}\n" for u, s in zip(ids, sentences)))
            assert main(["results", "--exp-dir", f"exp/{name}", "--test-set", "test", "--ref", "data/text",
                         "--hyp", f"exp/{name}/decode_test/hyp", "--kaldi", "--metrics", metrics]) == 0
    return root / "exp"


def _score_compare(metric, hyp_a, hyp_b, capsys):
    capsys.readouterr()
    assert main(["score", metric, "--ref", "data/text", "--hyp", hyp_a, "--compare", hyp_b, "--kaldi", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])[0]
    assert (record.pop("missing_a"), record.pop("missing_b")) == (0, 0)  # the fixture's systems miss no id
    return record


def _table_line(text, start):
    return next(line for line in text.splitlines() if line.startswith(start))


def test_comparisons_match_score_compare(tmp_path, monkeypatch, capsys):
    exp = _recipe(tmp_path / "recipe", monkeypatch)
    expected = {(task, a, b): _score_compare(metric, f"exp/{task}_{a}/decode_test/hyp",
                                             f"exp/{task}_{b}/decode_test/hyp", capsys)
                for task, metric in (("asr", "wer"), ("ro_en", "bleu"))
                for a, b in (("zeroshot", "baseline"), ("finetune", "baseline"), ("finetune", "zeroshot"))}
    monkeypatch.chdir(tmp_path)  # recorded paths are relative to the recipe dir: found from above the exp dir
    rows = {row.task.prefix: row for row in reuse_rows(exp)}
    for (task, a, b), want in expected.items():
        got = rows[task].comparisons[[("zeroshot", "baseline"), ("finetune", "baseline"),
                                      ("finetune", "zeroshot")].index((a, b))]
        assert got.as_dict() == pytest.approx(want), (task, a, b)
    assert expected["asr", "finetune", "baseline"]["delta"] < 0  # the fixture's systems do differ

    assert main(["table", "reuse", "--exp-dir", "recipe/exp"]) == 0
    text = capsys.readouterr().out
    line = _table_line(text, "| English ASR (WER) |")
    want = expected["asr", "zeroshot", "baseline"]
    assert f"| {want['b']:.2f} | {want['a']:.2f} |" in line
    assert f"| {want['delta']:+.2f} [{want['ci_low']:+.2f}, {want['ci_high']:+.2f}] p={want['p']:.3f} |" in line
    assert "zero-shot − baseline | fine-tuned − baseline | fine-tuned − zero-shot |" in text
    assert "1000 resamples, seed 12345" in text and "not converged" not in text


def test_not_converged_rows_show_scores_but_no_comparison(tmp_path, monkeypatch, capsys):
    exp = _recipe(tmp_path / "recipe", monkeypatch, asr_errors={**ASR_ERRORS, "asr_baseline": 0.9},
                  mt_errors={**MT_ERRORS, "ro_en_zeroshot": 1.0})
    rows = {row.task.prefix: row for row in reuse_rows(exp)}
    assert rows["asr"].scores[0] > MAX_CONVERGED_WER > rows["asr"].scores[2]
    assert not rows["asr"].converged and rows["asr"].comparisons == []
    assert rows["ro_en"].scores[1] < 1.0 and not rows["ro_en"].converged
    assert main(["table", "reuse", "--exp-dir", "exp"]) == 0
    text = capsys.readouterr().out
    asr = _table_line(text, "| English ASR (WER) (not converged: WER > 60%, no comparison) |")
    assert f"| {rows['asr'].scores[0]:.2f} | {rows['asr'].scores[1]:.2f} | {rows['asr'].scores[2]:.2f} |" in asr
    assert asr.endswith("| not compared | not compared | not compared |") and "p=" not in asr and " p < " not in asr
    mt = _table_line(text, "| Ro-En MT (BLEU) (not converged: BLEU < 1.0, no comparison) |")
    assert "p=" not in mt and " p < " not in mt
    assert f"English ASR is not converged (WER > 60%: asr_baseline {rows['asr'].scores[0]:.2f})" in text
    assert f"Ro-En MT is not converged (BLEU < 1.0: ro_en_zeroshot {rows['ro_en'].scores[1]:.2f})" in text


def test_missing_or_stale_hypotheses_are_named_in_their_cells(tmp_path, monkeypatch, capsys):
    exp = _recipe(tmp_path / "recipe", monkeypatch)
    (exp / "asr_zeroshot" / "decode_test" / "hyp").unlink()
    stale = exp / "ro_en_finetune" / "decode_test" / "hyp"  # re-decoded after scoring
    stale.write_text(stale.read_text().replace(" gnu ", " python "))
    assert main(["table", "reuse", "--exp-dir", "exp"]) == 0
    asr = _table_line(capsys.readouterr().out, "| English ASR (WER) |").split(" | ")
    assert asr[4] == asr[6].rstrip(" |") == "n/a: exp/asr_zeroshot/decode_test/hyp missing"
    assert " p=" in asr[5] or " p < " in asr[5]  # fine-tuned vs baseline still compared
    mt = {row.task.prefix: row for row in reuse_rows(exp)}["ro_en"].comparisons
    recorded = json.loads((exp / "ro_en_finetune" / "results.json").read_text())["sets"]["test"]["scores"]["bleu"]
    assert mt[1] == mt[2] == (f"n/a: exp/ro_en_finetune/decode_test/hyp no longer gives the recorded bleu "
                              f"{recorded:.2f}; re-run the scoring stage")
    assert not isinstance(mt[0], str)


def test_help_states_the_thresholds(capsys):
    """`legokit table --help` spells out the not-converged bounds (kept as text: the CLI does not import the
    scorers to build its help)."""
    with pytest.raises(SystemExit):
        main(["table", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"above {MAX_CONVERGED_WER:g}% WER or below {MIN_CONVERGED_BLEU:.1f} BLEU" in text


def test_missing_hypotheses_are_counted_under_the_table(tmp_path, monkeypatch, capsys):
    """A system whose hypothesis file lacks utterances (a decode job that died) is scored with them empty, as
    `legokit score --compare` does, and the table says how many each system misses."""
    exp = _recipe(tmp_path / "recipe", monkeypatch)
    hyp = exp / "asr_zeroshot" / "decode_test" / "hyp"
    hyp.write_text("".join(hyp.read_text().splitlines(keepends=True)[3:]))  # 3 utterances lost
    assert main(["results", "--exp-dir", "exp/asr_zeroshot", "--test-set", "test", "--ref", "data/text",
                 "--hyp", "exp/asr_zeroshot/decode_test/hyp", "--kaldi", "--metrics", "wer,cer"]) == 0
    capsys.readouterr()
    rows = {row.task.prefix: row for row in reuse_rows(exp)}
    assert rows["asr"].missing == [0, 3, 0] and rows["ro_en"].missing == [0, 0, 0]
    assert main(["table", "reuse", "--exp-dir", str(exp)]) == 0
    text = capsys.readouterr().out
    assert "English ASR: missing hypotheses (reference utterances without one, scored as empty" in text
    assert text.count("missing hypotheses") == 1 and "asr_zeroshot 3." in text


def test_the_table_rewrites_its_own_earlier_output(tmp_path, monkeypatch, capsys):
    """A recipe's scoring stage run again (e.g. after re-decoding) rewrites exp/RESULTS.md: the table an earlier
    run wrote is an output, not an input (it was once refused as one, failing the stage on every re-run)."""
    exp = _recipe(tmp_path / "recipe", monkeypatch)
    out = exp / "RESULTS.md"
    assert main(["table", "reuse", "--exp-dir", "exp", "--out", "exp/RESULTS.md"]) == 0
    first = out.read_text()
    (exp / "asr_zeroshot" / "decode_test" / "hyp").unlink()
    assert main(["table", "reuse", "--exp-dir", "exp", "--out", "exp/RESULTS.md"]) == 0
    second = out.read_text()
    assert "English ASR (WER)" in first and "n/a: exp/asr_zeroshot/decode_test/hyp missing" in second
    capsys.readouterr()


def test_the_table_never_overwrites_a_systems_results(tmp_path, monkeypatch, capsys):
    exp = _recipe(tmp_path / "recipe", monkeypatch)
    results = exp / "asr_baseline" / "results.json"
    before = results.read_text()
    assert main(["table", "reuse", "--exp-dir", "exp", "--out", "exp/asr_baseline/results.json"]) != 0
    assert "refusing to overwrite the input" in capsys.readouterr().err and results.read_text() == before

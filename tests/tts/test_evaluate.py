"""Predicted MOS (DNSMOS), CER into RESULTS.md, the results table, MOS significance."""

import json

import numpy as np
import pytest
import soundfile as sf

from legokit.cli import main
from legokit.errors import LegokitError
from legokit.tts.evaluate import MOS_KEYS, compare_mos, dnsmos, evaluate_tts, read_mos, results_table, write_mos

pytest.importorskip("speechmos")


@pytest.fixture()
def syn_dir(tmp_path, kk_dir):
    out = tmp_path / "syn"
    out.mkdir()
    wavs = sorted((kk_dir / "wav").glob("*.wav"))[:2]
    (out / "wav.scp").write_text("".join(f"{w.stem} {w}\n" for w in wavs))
    (out / "text").write_text("".join(f"{w.stem} абв\n" for w in wavs))
    (out / "hyp").write_text(f"{wavs[0].stem} абв\n{wavs[1].stem} аб\n")
    return out


@pytest.mark.slow
def test_dnsmos_of_speech_beats_noise(kk_dir, tmp_path):
    noise = tmp_path / "noise.wav"
    sf.write(noise, np.random.default_rng(0).normal(0, 0.3, 32000).astype(np.float32), 16000)
    speech = dnsmos([str(sorted((kk_dir / "wav").glob("*.wav"))[0])])
    assert set(speech) == {"ovrl_mos", "sig_mos", "bak_mos", "p808_mos"}
    assert speech["bak_mos"] > dnsmos([str(noise)])["bak_mos"]
    with pytest.raises(LegokitError, match="no wav files"):
        dnsmos([])


@pytest.mark.slow
def test_evaluate_writes_results_and_table(syn_dir, tmp_path):
    exp = tmp_path / "exp"
    scores = evaluate_tts(syn_dir, exp / "tts_kk_scratch", "kk_test", syn_dir / "hyp")
    assert scores["cer"] == pytest.approx(100 * 1 / 6)  # one deleted character out of 6
    assert "kk_test" in (exp / "tts_kk_scratch" / "RESULTS.md").read_text()
    per_utt = read_mos(syn_dir)  # <syn_dir>/dnsmos.tsv: the scores whose means went into RESULTS.md
    assert len(per_utt) == 2 and all(set(s) == set(MOS_KEYS) for s in per_utt.values())
    assert scores["ovrl_mos"] == pytest.approx(np.mean([s["ovrl_mos"] for s in per_utt.values()]), abs=1e-4)
    (exp / "aspf_kk.tsv").write_text("en\t0.7400\nru\t0.6800\n")
    table = results_table(exp, ["kk"], ["scratch", "features"], "ru")
    row = table.splitlines()[2]
    assert row.startswith("| kk | – | – | 16.7 |") and "en 0.740, ru 0.680" in row


def test_evaluate_counts_a_missing_hypothesis_as_empty(tmp_path, monkeypatch, caplog):
    """An utterance the ASR did not transcribe is an empty hypothesis (all its characters deleted) with a
    warning naming the file and the count, as `legokit score` does; a hypothesis id not in the text is refused."""
    from legokit.tts import evaluate

    monkeypatch.setattr(evaluate, "dnsmos_per_utterance", lambda wavs: {u: dict.fromkeys(MOS_KEYS, 3.0) for u in wavs})
    syn = tmp_path / "syn"
    syn.mkdir()
    (syn / "wav.scp").write_text("a a.wav\nb b.wav\n")
    (syn / "text").write_text("a абв\nb где\n")
    hyp = syn / "hyp"
    hyp.write_text("a абв\n")  # b missing
    scores = evaluate_tts(syn, tmp_path / "exp", "kk_test", hyp)
    assert scores["cer"] == pytest.approx(100 * 3 / 6) and scores["missing"] == 1
    assert f"1 of 2 reference ids have no hypothesis in {hyp}" in caplog.text
    hyp.write_text("a абв\nc где\n")
    with pytest.raises(LegokitError, match=f"1 id\\(s\\) of {hyp} not in .*text: c"):
        evaluate_tts(syn, tmp_path / "exp", "kk_test", hyp)


def _mos_dir(path, offset: float, utts: int = 30):
    path.mkdir()
    rng = np.random.default_rng(1)
    write_mos({f"u{i:02d}": {k: 2.0 + offset + 0.3 * rng.standard_normal() for k in MOS_KEYS} for i in range(utts)},
              path / "dnsmos.tsv")
    return path


def test_compare_mos_paired_by_utterance(tmp_path):
    better, worse = _mos_dir(tmp_path / "a", 0.4), _mos_dir(tmp_path / "b", 0.0)
    results = {r.metric: r for r in compare_mos(better, worse, num_samples=200)}
    assert set(results) == set(MOS_KEYS)
    assert results["ovrl_mos"].delta == pytest.approx(0.4, abs=1e-3) and results["ovrl_mos"].p == 0.0
    assert [r.metric for r in compare_mos(better, worse, ["sig_mos"], num_samples=10)] == ["sig_mos"]
    with pytest.raises(LegokitError, match="utterance 'u29' of .*a has no score in .*c"):
        compare_mos(better, _mos_dir(tmp_path / "c", 0.0, utts=29))
    with pytest.raises(LegokitError, match="no 'nisqa' column"):
        compare_mos(better, worse, ["nisqa"])
    (tmp_path / "bad.tsv").write_text("utt\tovrl_mos\nu1\tgood\n")
    with pytest.raises(LegokitError, match=r"bad.tsv:2: expected an utterance id and 1 numbers"):
        read_mos(tmp_path / "bad.tsv")
    with pytest.raises(LegokitError, match="tts evaluate --syn-dir"):
        read_mos(tmp_path / "missing")


def test_cli_compare_mos(tmp_path, capsys):
    a, b = _mos_dir(tmp_path / "a", 0.4), _mos_dir(tmp_path / "b", 0.0)
    out = tmp_path / "mos.json"
    assert main(["tts", "compare-mos", "--a", str(a), "--b", str(b), "--keys", "ovrl_mos",
                 "--bootstrap-samples", "50", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "30 utterances, 50 paired resamples" in printed and "| ovrl_mos |" in printed
    assert json.loads(out.read_text())[0]["metric"] == "ovrl_mos"
    assert main(["tts", "compare-mos", "--a", str(a), "--b", str(tmp_path / "nowhere")]) == 2
    assert "nowhere not found: `legokit tts evaluate --syn-dir DIR` writes" in capsys.readouterr().err

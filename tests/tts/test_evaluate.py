"""Predicted MOS (DNSMOS), CER into RESULTS.md, and the results table."""

import numpy as np
import pytest
import soundfile as sf

from legokit.errors import LegokitError
from legokit.tts.evaluate import dnsmos, evaluate_tts, results_table

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
    (exp / "aspf_kk.tsv").write_text("en\t0.7400\nru\t0.6800\n")
    table = results_table(exp, ["kk"], ["scratch", "features"], "ru")
    row = table.splitlines()[2]
    assert row.startswith("| kk | – | – | 16.7 |") and "en 0.740, ru 0.680" in row

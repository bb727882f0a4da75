"""`legokit prepare festival-speech`: a few sentences spoken by Festival's Debian voices into Kaldi dirs whose
test split holds only the held-out voice, cached by `.completed` markers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from legokit.cli import main
from legokit.corpora.festival import FESTIVAL_HINT, installed_voices
from legokit.data.datadir import read_kaldi_map

TRAIN_VOICES, HELDOUT = ["kal_diphone", "ked_diphone"], "cmu_us_slt_arctic_hts"
pytestmark = pytest.mark.skipif(
    shutil.which("text2wave") is None or not set(TRAIN_VOICES + [HELDOUT]) <= set(installed_voices()
                                                                                 if shutil.which("festival") else []),
    reason=f"festival or its English voices are not installed: {FESTIVAL_HINT}")

SENTENCES = {"s1": "The cat sat on the mat.", "s2": "Open the file and save it.",
             "s3": "This package provides a library.", "s4": "Press the button twice."}


def _text_dir(root: Path) -> Path:
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        (root / split / "text.en").write_text("".join(f"{k} {v}\n" for k, v in SENTENCES.items()))
    return root


def test_two_voices_valid_dirs_and_heldout_voice_only_in_test(tmp_path: Path, capsys) -> None:
    text, out = _text_dir(tmp_path / "text"), tmp_path / "speech"
    args = ["prepare", "festival-speech", "--text-dir", str(text), "--out", str(out), "--splits", "train", "test",
            "--voices", *TRAIN_VOICES, "--heldout-voice", HELDOUT, "--nj", "2"]
    assert main(args) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["train"]["utterances"] == 4 and stats["test"] == {**stats["test"], "utterances": 4, "speakers": 1}
    train_spk = set(read_kaldi_map(out / "train" / "utt2spk").values())
    assert train_spk == set(TRAIN_VOICES)  # both voices speak (4 ids hash onto both)
    assert set(read_kaldi_map(out / "test" / "utt2spk").values()) == {HELDOUT}
    for split in ("train", "test"):
        assert main(["validate", str(out / split)]) == 0
        texts = read_kaldi_map(out / split / "text")
        assert {u.rsplit("-", 1)[1]: t for u, t in texts.items()} == SENTENCES  # ids <voice>-<id>, text kept
        for path in read_kaldi_map(out / split / "wav.scp").values():
            info = sf.info(path)
            assert (info.samplerate, info.channels) == (16000, 1) and info.duration > 0.5
    # cached: a re-run with the same options does not synthesise again
    wav = Path(next(iter(read_kaldi_map(out / "train" / "wav.scp").values())))
    mtime = wav.stat().st_mtime_ns
    assert main(args) == 0
    assert wav.stat().st_mtime_ns == mtime


def test_heldout_voice_in_training_and_unknown_voice_are_one_line_errors(tmp_path: Path, capsys) -> None:
    text = _text_dir(tmp_path / "text")
    base = ["prepare", "festival-speech", "--text-dir", str(text), "--out", str(tmp_path / "o")]
    assert main([*base, "--voices", "kal_diphone", "--heldout-voice", "kal_diphone"]) == 2
    assert "test voices must not be training voices" in capsys.readouterr().err
    assert main([*base, "--voices", "nosuch_voice"]) == 2
    err = capsys.readouterr().err
    assert "festival voices ['nosuch_voice'] are not installed" in err and "apt-get install festival" in err


def _median_f0(wav: Path) -> float:
    """Median pitch (Hz) of the voiced 40 ms frames of `wav`, by autocorrelation (60-400 Hz)."""
    audio, rate = sf.read(wav)
    frame, f0s = int(0.04 * rate), []
    for start in range(0, len(audio) - frame, frame):
        x = audio[start:start + frame]
        if (x ** 2).mean() ** 0.5 < 0.02 * abs(audio).max():
            continue
        corr = np.correlate(x, x, "full")[frame - 1:]
        lo, hi = rate // 400, rate // 60
        lag = lo + int(np.argmax(corr[lo:hi]))
        if corr[lag] > 0.3 * corr[0]:
            f0s.append(rate / lag)
    return float(np.median(f0s))


def test_f0_means_move_the_diphone_voices_pitch(tmp_path: Path) -> None:
    """--f0-means 200 lifts kal and ked (~105 Hz of their own) into the female range; the marker of a run
    without the option still counts as the same options, so old data is not spoken again."""
    text = _text_dir(tmp_path / "text")
    own, high = tmp_path / "own", tmp_path / "high"
    base = ["prepare", "festival-speech", "--text-dir", str(text), "--splits", "train", "--voices", *TRAIN_VOICES]
    assert main([*base, "--out", str(own)]) == 0
    assert main([*base, "--out", str(high), "--f0-means", "200"]) == 0
    for uid, path in read_kaldi_map(own / "train" / "wav.scp").items():
        f0_own, f0_high = _median_f0(Path(path)), _median_f0(high / "train" / "wav" / Path(path).name)
        assert f0_own < 130 and f0_high > 170, (uid, f0_own, f0_high)
    marker = own / "train" / ".completed"
    done = json.loads(marker.read_text())
    options = json.loads(done["options"])
    del options["f0_means"]  # as written before the option existed
    marker.write_text(json.dumps({**done, "options": json.dumps(options, sort_keys=True)}))
    stamp = (own / "train" / "wav.scp").stat().st_mtime_ns
    assert main([*base, "--out", str(own)]) == 0
    assert (own / "train" / "wav.scp").stat().st_mtime_ns == stamp


def test_f0_means_out_of_range_is_one_line(tmp_path: Path, capsys) -> None:
    text = _text_dir(tmp_path / "text")
    args = ["prepare", "festival-speech", "--text-dir", str(text), "--out", str(tmp_path / "o"), "--f0-means", "2000"]
    assert main(args) != 0
    assert "f0_means must be mean pitches in Hz within 40-400" in capsys.readouterr().err

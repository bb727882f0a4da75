"""`legokit prepare festival-speech`: a few sentences spoken by Festival's Debian voices into Kaldi dirs whose
test split holds only the held-out voice, cached by `.completed` markers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from legokit.cli import main
from legokit.corpora import festival
from legokit.corpora.festival import FESTIVAL_HINT, FestivalSession, installed_voices, prosody_args
from legokit.data.datadir import read_kaldi_map
from legokit.errors import LegokitError

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


def test_a_fresh_festival_process_speaks_what_text2wave_speaks(tmp_path: Path) -> None:
    """Each voice, stretch and pitch: the first utterance of a fresh session is text2wave's, sample for sample
    (two sentences in one text too). A session's later utterances are too but for a rare different final silence
    (legokit/corpora/festival.py, BLOCK), which is why test_blocks_make_the_data_independent_of_nj exists."""
    cases = [("kal_diphone", 0.85, 0.0), ("cmu_us_slt_arctic_hts", 1.15, 0.0), ("ked_diphone", 1.0, 180.0),
             ("ked_diphone", 1.15, 0.0)]
    for i, ((voice, stretch, f0), text) in enumerate(zip(cases, ["The cat sat on the mat.", "Open the file.",
                                                                 "This package provides a library.",
                                                                 "Two. Sentences here."])):
        (tmp_path / "in.txt").write_text(text + "\n")
        reference, ours = tmp_path / f"ref{i}.wav", tmp_path / f"ours{i}.wav"
        subprocess.run(["text2wave", "-eval", f"(voice_{voice})", *prosody_args(stretch, f0), "-o", str(reference),
                        str(tmp_path / "in.txt")], check=True, capture_output=True)
        session = FestivalSession()
        try:
            session.speak(text, ours, voice, stretch, f0)
        finally:
            session.close()
        a, rate_a = sf.read(reference, dtype="int16")
        b, rate_b = sf.read(ours, dtype="int16")
        assert rate_a == rate_b and np.array_equal(a, b), (voice, stretch, f0, a.shape, b.shape)


def test_blocks_make_the_data_independent_of_nj(tmp_path: Path, monkeypatch) -> None:
    """Blocks of consecutive utterances, each spoken by a fresh Festival: --nj 1 and --nj 2 (whose workers
    take the blocks in any order) write the same samples."""
    monkeypatch.setattr(festival, "BLOCK", 3)
    root = tmp_path / "text"
    (root / "train").mkdir(parents=True)
    sentences = [*SENTENCES.values(), "It is not a mere technicality.", "Select the printer.", "Quit now."]
    (root / "train" / "text.en").write_text("".join(f"u{i} {t}\n" for i, t in enumerate(sentences)))
    for nj in (1, 2):
        assert main(["prepare", "festival-speech", "--text-dir", str(root), "--out", str(tmp_path / f"nj{nj}"),
                     "--splits", "train", "--voices", *TRAIN_VOICES, "--nj", str(nj)]) == 0
    for path in (tmp_path / "nj1" / "train" / "wav").iterdir():
        a, _ = sf.read(path, dtype="int16")
        b, _ = sf.read(tmp_path / "nj2" / "train" / "wav" / path.name, dtype="int16")
        assert np.array_equal(a, b), path.name


def test_festival_session_error_is_one_line(tmp_path: Path) -> None:
    session = FestivalSession()
    try:
        with pytest.raises(LegokitError, match="festival failed for voice nosuch_voice"):
            session.speak("Hello.", tmp_path / "x.wav", "nosuch_voice", 1.0, 0.0)
        session.speak("Still speaking.", tmp_path / "y.wav", "kal_diphone", 1.0, 0.0)  # the process survives
        assert sf.info(tmp_path / "y.wav").duration > 0.3
    finally:
        session.close()
    session = FestivalSession()
    try:  # nothing to speak: a one-line error naming the text, as text2wave's empty file was one
        with pytest.raises(LegokitError, match="festival wrote no audio speaking '' with voice kal_diphone"):
            session.speak("", tmp_path / "z.wav", "kal_diphone", 1.0, 0.0)
        with pytest.raises(LegokitError, match=r"festival crashed \(signal 11\) speaking '\.\.\.'"):
            session.speak("...", tmp_path / "z.wav", "kal_diphone", 1.0, 0.0)  # Festival (and text2wave) segfault
    finally:
        session.close()


def test_a_killed_run_speaks_the_blocks_with_a_missing_wav_again_whole(tmp_path: Path, monkeypatch) -> None:
    """Resuming: a block with a missing wav is spoken whole by a fresh process (so its wavs are what an
    uninterrupted run writes); complete blocks are kept untouched."""
    from legokit.corpora.text import text_hash

    monkeypatch.setattr(festival, "BLOCK", 3)
    root = tmp_path / "text"
    (root / "train").mkdir(parents=True)
    sentences = {f"u{i}": t for i, t in enumerate([*SENTENCES.values(), "Select the printer.", "Quit now."])}
    (root / "train" / "text.en").write_text("".join(f"{k} {v}\n" for k, v in sentences.items()))
    args = ["prepare", "festival-speech", "--text-dir", str(root), "--out", str(tmp_path / "s"), "--splits", "train",
            "--voices", *TRAIN_VOICES]
    assert main(args) == 0
    split = tmp_path / "s" / "train"
    by_id = {p.stem.rsplit("-", 1)[1]: p for p in (split / "wav").iterdir()}
    order = sorted(sentences, key=text_hash)  # the jobs' order: blocks are order[0:3], order[3:6]
    first, second = [by_id[u] for u in order[:3]], [by_id[u] for u in order[3:]]
    before = {p: sf.read(p, dtype="int16")[0] for p in first + second}
    done = json.loads((split / ".completed").read_text())
    (split / ".partial").write_text(json.dumps({"options": done["options"], "text": done["text"]}, sort_keys=True))
    (split / ".completed").unlink()
    second[1].unlink()
    stamps = {p: p.stat().st_mtime_ns for p in first + second if p.exists()}
    assert main(args) == 0
    assert all(first_wav.stat().st_mtime_ns == stamps[first_wav] for first_wav in first)  # kept
    assert all(p.stat().st_mtime_ns != stamps[p] for p in (second[0], second[2]))  # the block spoken again
    assert all(np.array_equal(sf.read(p, dtype="int16")[0], before[p]) for p in first + second)

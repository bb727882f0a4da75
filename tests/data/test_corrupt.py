"""`legokit data augment` (legokit/data/corrupt.py): a corrupted copy of a speech data dir is byte-identical for
the same seed, lands at the requested SNR, keeps length and RMS when only reverberated, cuts `segments` into one
wav per utterance, copies the other Kaldi files, and refuses SRC, a dir inside SRC and an existing data dir."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from legokit.cli import main
from legokit.data.datadir import read_kaldi_map, read_speech_dir

QUIET = ["--log-level", "WARNING"]
RATE = 16000


def _tone(seconds: float, freq: float, seed: int) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    noise = 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    return (0.1 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def _source(tmp_path: Path, segments: bool = False) -> Path:
    """A data dir of 3 utterances (wav.scp, text, text.cased, utt2spk, spk2utt, utt2dur), or with `segments`
    3 utterances cut from one 3 s recording."""
    src = tmp_path / "src"
    (src / "audio").mkdir(parents=True)
    utts = {"a-1": "one", "a-2": "two", "b-1": "three"}
    if segments:
        sf.write(src / "audio" / "rec.wav", _tone(3.0, 200, 0), RATE, subtype="PCM_16")
        (src / "wav.scp").write_text(f"rec {src / 'audio' / 'rec.wav'}\n")
        (src / "segments").write_text("a-1 rec 0.0 0.5\na-2 rec 0.5 1.75\nb-1 rec 2.0 3.0\n")
    else:
        for i, utt in enumerate(utts):
            sf.write(src / "audio" / f"{utt}.wav", _tone(0.6 + 0.2 * i, 150 + 50 * i, i), RATE, subtype="PCM_16")
        (src / "wav.scp").write_text("".join(f"{u} {src / 'audio' / f'{u}.wav'}\n" for u in utts))
    (src / "text").write_text("".join(f"{u} {t}\n" for u, t in utts.items()))
    (src / "text.cased").write_text("".join(f"{u} {t.title()}.\n" for u, t in utts.items()))
    (src / "utt2spk").write_text("".join(f"{u} {u[0]}\n" for u in utts))
    (src / "spk2utt").write_text("a a-1 a-2\nb b-1\n")
    (src / "utt2dur").write_text("a-1 0.6\na-2 0.8\nb-1 1.0\n")
    return src


def _noise_dir(tmp_path: Path) -> Path:
    noise = tmp_path / "noise"
    noise.mkdir()
    rng = np.random.default_rng(9)
    sf.write(noise / "etr-hiss.wav", (0.2 * rng.standard_normal(RATE)).astype(np.float32), RATE, subtype="PCM_16")
    sf.write(noise / "etr-hum.wav", (0.3 * np.sin(np.arange(RATE // 2) * 0.05)).astype(np.float32), RATE,
             subtype="PCM_16")
    return noise


def _read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float64")[0]


def _wavs(out: Path) -> dict[str, bytes]:
    return {u: Path(p).read_bytes() for u, p in read_kaldi_map(out / "wav.scp").items()}


def test_the_same_seed_gives_byte_identical_output_and_another_seed_other_audio(tmp_path: Path) -> None:
    src, noise = _source(tmp_path), _noise_dir(tmp_path)
    args = ["--noise-dir", str(noise), "--reverb-prob", "0.5", "--speed", "0.9", "1.1"]
    for name, seed in (("one", "3"), ("two", "3"), ("other", "4")):
        assert main([*QUIET, "data", "augment", str(src), str(tmp_path / name), *args, "--seed", seed]) == 0
    one, two, other = (_wavs(tmp_path / n) for n in ("one", "two", "other"))
    assert one == two and set(one) == {"a-1", "a-2", "b-1"}
    assert all(one[u] != other[u] for u in one)
    assert all(Path(p).is_absolute() and Path(p).parent == (tmp_path / "one" / "wav").resolve()
               for p in read_kaldi_map(tmp_path / "one" / "wav.scp").values())


def test_noise_lands_at_the_drawn_snr(tmp_path: Path) -> None:
    src, noise = _source(tmp_path), _noise_dir(tmp_path)
    for name, (low, high) in (("fixed", ("10", "10")), ("range", ("5", "15"))):
        out = tmp_path / name
        assert main([*QUIET, "data", "augment", str(src), str(out), "--noise-dir", str(noise),
                     "--snr-db", low, high, "--seed", "7"]) == 0
        snrs = []
        for utt in read_speech_dir(src):
            clean, noisy = _read(Path(utt.path)), _read(out / "wav" / f"{utt.utt_id}.wav")
            assert noisy.shape == clean.shape
            snrs.append(10 * np.log10(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2)))
        if name == "fixed":
            assert np.allclose(snrs, 10.0, atol=0.05), snrs
        else:
            assert all(4.95 <= s <= 15.05 for s in snrs) and np.ptp(snrs) > 0.5, snrs


def test_reverberation_alone_keeps_length_and_rms_and_changes_the_audio(tmp_path: Path) -> None:
    src = _source(tmp_path)
    out = tmp_path / "reverb"
    assert main([*QUIET, "data", "augment", str(src), str(out), "--reverb-prob", "1", "--rt60", "0.3", "0.9"]) == 0
    for utt in read_speech_dir(src):
        clean, wet = _read(Path(utt.path)), _read(out / "wav" / f"{utt.utt_id}.wav")
        assert wet.shape == clean.shape
        rms_clean, rms_wet = np.sqrt(np.mean(clean ** 2)), np.sqrt(np.mean(wet ** 2))
        assert abs(rms_wet / rms_clean - 1) < 0.01, (rms_clean, rms_wet)
        assert np.corrcoef(clean, wet)[0, 1] < 0.95  # a real room, not a copy
    # the Kaldi files are copied, those describing the source audio are not; the source is untouched
    assert sorted(p.name for p in out.iterdir()) == ["spk2utt", "text", "text.cased", "utt2spk", "wav", "wav.scp"]
    for name in ("text", "text.cased", "utt2spk", "spk2utt"):
        assert (out / name).read_bytes() == (src / name).read_bytes()


def test_segments_become_one_wav_per_utterance(tmp_path: Path) -> None:
    src = _source(tmp_path, segments=True)
    out = tmp_path / "out"
    assert main([*QUIET, "data", "augment", str(src), str(out), "--reverb-prob", "1"]) == 0
    assert not (out / "segments").exists()
    lengths = {u.utt_id: len(_read(Path(u.path))) for u in read_speech_dir(out)}
    assert lengths == {"a-1": 8000, "a-2": 20000, "b-1": 16000}
    assert all(u.start is None for u in read_speech_dir(out))


def test_refusals_are_one_line_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _source(tmp_path)
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    cases = [([str(src), str(src), "--reverb-prob", "1"], "must not be the source data dir"),
             ([str(src), str(src / "noisy"), "--reverb-prob", "1"], "or lie inside it"),
             ([str(src), str(tmp_path / "x"), "--snr-db", "15", "5", "--reverb-prob", "1"],
              "--snr-db 15 5: expected LOW <= HIGH"),
             ([str(src), str(tmp_path / "x")], "nothing to do"),
             ([str(src), str(tmp_path / "x"), "--noise-dir", str(tmp_path / "none")], "holds no .wav")]
    (tmp_path / "none").mkdir()
    for argv, message in cases:
        assert main([*QUIET, "data", "augment", *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (argv, err)
    assert not (tmp_path / "x").exists() and not (src / "noisy").exists()
    out = tmp_path / "out"
    assert main([*QUIET, "data", "augment", str(src), str(out), "--reverb-prob", "1"]) == 0
    assert main([*QUIET, "data", "augment", str(src), str(out), "--reverb-prob", "1", "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a data dir (wav.scp, text); pass --force" in err[0], err
    first = _wavs(out)
    assert main([*QUIET, "data", "augment", str(src), str(out), "--reverb-prob", "1", "--seed", "1", "--force"]) == 0
    assert _wavs(out) != first
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from legokit.corpora.espeak import EspeakConfig, make_espeak_speech, synthesize
from legokit.corpora.text import read_text, write_text
from legokit.errors import LegokitError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")


@needs_espeak
def test_synthesize_16k_mono(tmp_path: Path):
    seconds = synthesize("The file could not be opened.", tmp_path / "a.wav", "en-us+f3", 175, 50, 16000)
    audio, rate = sf.read(tmp_path / "a.wav")
    assert rate == 16000 and audio.ndim == 1
    assert 0.8 < seconds < 5 and len(audio) == round(seconds * 16000)
    assert abs(audio).max() > 0.05  # real speech, not silence


@needs_espeak
def test_make_espeak_speech_kaldi_dirs(tmp_path: Path):
    for split in ("train", "test"):
        write_text(tmp_path / "mt" / split / "text.en", {f"{split}-{i}": f"Sentence number {i}." for i in range(3)})
    cfg = EspeakConfig(voices=["en-us+m1", "en-gb+f2"], test_voices=["en-029+m3"], splits=["train", "test"])
    stats = make_espeak_speech(tmp_path / "mt", tmp_path / "asr", cfg, nj=2)
    assert stats["test"]["speakers"] == 1 and stats["train"]["utterances"] == 3
    wav_scp = read_text(tmp_path / "asr/train/wav.scp")
    text, utt2spk = read_text(tmp_path / "asr/train/text"), read_text(tmp_path / "asr/train/utt2spk")
    assert wav_scp.keys() == text.keys() == utt2spk.keys()
    assert all(Path(p).is_absolute() and sf.info(p).samplerate == 16000 for p in wav_scp.values())
    assert set(utt2spk.values()) <= set(cfg.voices)
    assert set(read_text(tmp_path / "asr/test/utt2spk").values()) == {"en-029+m3"}
    assert sorted(text.values()) == [f"Sentence number {i}." for i in range(3)]


def test_voices_must_be_disjoint(tmp_path: Path):
    cfg = EspeakConfig(voices=["en-us"], test_voices=["en-us"])
    with pytest.raises(LegokitError, match=r"both lists contain \['en-us'\]"):
        make_espeak_speech(tmp_path, tmp_path / "out", cfg)


@needs_espeak
def test_a_variant_espeak_ng_lacks_is_refused_before_speaking(tmp_path: Path):
    """espeak-ng speaks en-us+Linda as plain en-us and exits 0 (the variant file is `linda`): refused up front,
    naming the voice and the spelling that exists, and nothing is written."""
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    synthesize("hello there", a, "en-us+Linda", 175, 50, 16000)
    synthesize("hello there", b, "en-us", 175, 50, 16000)
    assert a.read_bytes() == b.read_bytes()  # the silent fallback this check exists for
    cfg = EspeakConfig(voices=["en-us+m1", "en-us+Linda"], test_voices=["en-gb+linda"])
    with pytest.raises(LegokitError, match=r"'en-us\+Linda': no variant 'Linda'.*did you mean en-us\+linda"):
        make_espeak_speech(tmp_path, tmp_path / "out", cfg)
    assert not (tmp_path / "out").exists()


def test_missing_espeak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LegokitError, match="apt-get install espeak-ng"):
        make_espeak_speech(tmp_path, tmp_path / "out")


@needs_espeak
def test_skip_utts_speaks_other_sentences(tmp_path: Path):
    write_text(tmp_path / "mt/train/text.en", {f"s{i}": f"Sentence number {i}." for i in range(6)})
    first = EspeakConfig(voices=["en-us+m1"], test_voices=["en-029+m3"], splits=["train"], max_utts=2)
    rest = EspeakConfig(voices=["en-us+m1"], test_voices=["en-029+m3"], splits=["train"], max_utts=10, skip_utts=2)
    make_espeak_speech(tmp_path / "mt", tmp_path / "a", first)
    make_espeak_speech(tmp_path / "mt", tmp_path / "b", rest)
    a, b = read_text(tmp_path / "a/train/text"), read_text(tmp_path / "b/train/text")
    assert len(a) == 2 and len(b) == 4 and not set(a.values()) & set(b.values())
    gone = EspeakConfig(voices=["en-us+m1"], test_voices=["en-029+m3"], splits=["train"], skip_utts=6)
    with pytest.raises(LegokitError, match=r"text.en: no utterance left to speak after skipping 6 of 6"):
        make_espeak_speech(tmp_path / "mt", tmp_path / "c", gone)


@needs_espeak
def test_killed_run_resumes_keeping_spoken_wavs_with_the_same_options(tmp_path: Path):
    write_text(tmp_path / "mt/train/text.en", {f"s{i}": f"Sentence number {i}." for i in range(4)})
    cfg = EspeakConfig(voices=["en-us+m1"], test_voices=["en-029+m3"], splits=["train"])
    make_espeak_speech(tmp_path / "mt", tmp_path / "asr", cfg)
    split = tmp_path / "asr/train"
    assert not (split / ".partial").exists()
    wavs = sorted((split / "wav").glob("*.wav"))
    # as if killed after two wavs: no .completed marker, a .partial one with the run's options
    done = json.loads((split / ".completed").read_text())
    (split / ".partial").write_text(json.dumps({"options": done["options"], "text": done["text"]}, sort_keys=True))
    (split / ".completed").unlink()
    wavs[0].unlink()
    stamp = {w: w.stat().st_mtime_ns for w in wavs[1:]}
    stats = make_espeak_speech(tmp_path / "mt", tmp_path / "asr", cfg)
    assert wavs[0].is_file() and sf.info(wavs[0]).frames > 0  # spoken again
    assert {w: w.stat().st_mtime_ns for w in wavs[1:]} == stamp  # kept
    assert stats["train"]["utterances"] == 4
    # other options: nothing is kept
    (split / ".partial").write_text("{}")
    (split / ".completed").unlink()
    make_espeak_speech(tmp_path / "mt", tmp_path / "asr", cfg)
    assert all(w.stat().st_mtime_ns != stamp[w] for w in wavs[1:])


@needs_espeak
def test_a_split_is_spoken_again_when_its_text_changed(tmp_path: Path):
    """The .completed marker records the text's digest: other text in the same place is spoken, not skipped
    (the options alone did not change)."""
    cfg = EspeakConfig(voices=["en-us+m1"], test_voices=["en-029+m3"], splits=["train"])
    write_text(tmp_path / "mt/train/text.en", {"s0": "One sentence.", "s1": "Another one."})
    make_espeak_speech(tmp_path / "mt", tmp_path / "asr", cfg)
    write_text(tmp_path / "mt/train/text.en", {"s0": "Quite other words.", "s1": "Another one."})
    make_espeak_speech(tmp_path / "mt", tmp_path / "asr", cfg)
    assert "Quite other words." in read_text(tmp_path / "asr/train/text").values()
    marker = json.loads((tmp_path / "asr/train/.completed").read_text())
    del marker["text"]  # a marker of an older legokit: still counts as done for the same options
    (tmp_path / "asr/train/.completed").write_text(json.dumps(marker))
    wav = next((tmp_path / "asr/train/wav").glob("*.wav"))
    stamp = wav.stat().st_mtime_ns
    make_espeak_speech(tmp_path / "mt", tmp_path / "asr", cfg)
    assert wav.stat().st_mtime_ns == stamp

from pathlib import Path

import pytest
from helpers.datagen import MT_DIR

from legokit.data.datadir import (
    read_kaldi_map,
    read_speech_dir,
    read_text_dir,
    validate_speech_dir,
    validate_text_dir,
)
from legokit.errors import LegokitError


def _edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


def test_read_speech_dir(speech_dir):
    utts = read_speech_dir(speech_dir)
    assert [u.utt_id for u in utts] == [f"spk{i % 2}-utt{i:02d}" for i in range(5)]
    assert utts[1].text == "the cat sat on the mat" and utts[1].speaker == "spk1"
    assert utts[0].start is None and Path(utts[0].path).is_file()
    assert validate_speech_dir(speech_dir) == 5


def test_unsorted_files_are_fine(speech_dir):
    for name in ("wav.scp", "text", "utt2spk"):
        lines = (speech_dir / name).read_text().splitlines()
        (speech_dir / name).write_text("\n".join(reversed(lines)) + "\n")
    assert validate_speech_dir(speech_dir) == 5


def test_segments(speech_dir):
    wav = read_speech_dir(speech_dir)[0].path
    (speech_dir / "wav.scp").write_text(f"rec1 {wav}\n")
    (speech_dir / "segments").write_text("a rec1 0.0 0.1\nb rec1 0.1 0.25\n")
    (speech_dir / "text").write_text("a first half\nb second half\n")
    (speech_dir / "utt2spk").write_text("a s\nb s\n")
    utts = read_speech_dir(speech_dir)
    assert [(u.utt_id, u.start, u.end, u.path) for u in utts] == [("a", 0.0, 0.1, wav), ("b", 0.1, 0.25, wav)]


@pytest.mark.parametrize("name, old, new, message", [
    ("text", "spk0-utt02 good morning", "spk0-utt02", "text:3: empty transcript for id 'spk0-utt02'"),
    ("text", "spk0-utt02 good morning", "spk0-utt02 ", "text:3: empty transcript"),
    ("text", "spk0-utt02", "spk0-utt00", "text:3: duplicate id 'spk0-utt00'"),
    ("text", "spk0-utt02", "nowhere", "text:3: id 'nowhere' is not in"),
    ("wav.scp", "spk1-utt01 ", "spk1-utt01 sox in.wav -t wav - |\nx ", "wav.scp:2: piped command"),
    ("wav.scp", "spk1-utt01 ", "spk1-utt01 /missing.wav\nx ", "wav.scp:2: audio file '/missing.wav'"),
    ("wav.scp", "spk0-utt02", "\nspk0-utt02", "wav.scp:3: empty line"),
    ("utt2spk", "spk1-utt03 spk1", "other spk1", "text:4: id 'spk1-utt03' is not in"),
])
def test_first_bad_line_is_reported(speech_dir, name, old, new, message):
    _edit(speech_dir / name, old, new)
    with pytest.raises(LegokitError, match=message.replace("|", r"\|")):
        validate_speech_dir(speech_dir)


@pytest.mark.parametrize("missing", ["wav.scp", "text", "utt2spk"])
def test_missing_file(speech_dir, missing):
    (speech_dir / missing).unlink()
    with pytest.raises(LegokitError, match=f"{missing}: file not found"):
        validate_speech_dir(speech_dir)


@pytest.mark.parametrize("segments, message", [
    ("a rec1 0.0\n", "segments:1: malformed line"),
    ("a rec1 0.0 x\n", "segments:1: malformed line"),
    ("a rec1 0.5 0.2\n", "segments:1: expected 4 fields with 0 <= start < end"),
    ("a rec9 0.0 0.2\n", "segments:1: recording 'rec9' is not in"),
])
def test_bad_segments(speech_dir, segments, message):
    wav = read_speech_dir(speech_dir)[0].path
    (speech_dir / "wav.scp").write_text(f"rec1 {wav}\n")
    (speech_dir / "segments").write_text(segments)
    (speech_dir / "text").write_text("a hi\n")
    (speech_dir / "utt2spk").write_text("a s\n")
    with pytest.raises(LegokitError, match=message):
        validate_speech_dir(speech_dir)


def test_read_text_dir():
    examples = read_text_dir(MT_DIR, ["de", "en"])
    assert len(examples) == 12 == validate_text_dir(MT_DIR, ["en", "de"])
    assert examples[1].sentences == {"de": "Bitte geben Sie Ihr Passwort ein.",
                                     "en": "Please enter your password."}


def test_text_dir_ids_must_align(tmp_path):
    (tmp_path / "text.de").write_text("a Hallo.\nb Tschüss.\n")
    (tmp_path / "text.en").write_text("a Hello.\nc Bye.\n")
    with pytest.raises(LegokitError, match=r"text.en:2: id 'c' is not in .*text.de"):
        validate_text_dir(tmp_path, ["de", "en"])
    with pytest.raises(LegokitError, match=r"text.fr: file not found"):
        validate_text_dir(tmp_path, ["de", "fr"])


def test_read_kaldi_map_rejects_bad_utf8(tmp_path):
    (tmp_path / "text").write_bytes(b"a \xff\xfe\n")
    with pytest.raises(LegokitError, match="not valid UTF-8"):
        read_kaldi_map(tmp_path / "text")

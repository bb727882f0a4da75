"""Europarl-ST preparation on a fixture in the v1.1 release layout (m4a audio, per-pair segment lists)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from legokit.cli import main
from legokit.corpora import europarl_st
from legokit.corpora.europarl_st import collect, find_root, normalise, prepare_europarl_st, read_split
from legokit.data.audio import load_audio
from legokit.data.datadir import read_speech_dir
from legokit.errors import LegokitError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "corpora" / "europarl_st"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg converts the m4a audio")


def test_union_over_pairs_is_deduplicated_and_keeps_test_talks_out_of_train() -> None:
    splits = collect(find_root(FIXTURE), "en")
    train_talks = {s.talk for s in splits["train"]}
    assert train_talks == {"en.20081020.19.3-133", "en.20090112.21.3-032"}  # en-fr's train has a test talk
    assert len(splits["train"]) == 6  # en-de 6 segments; en-fr's 2 of them are duplicates
    assert not train_talks & {s.talk for s in splits["test"] + splits["valid"]}
    assert [len(splits["valid"]), len(splits["test"])] == [2, 2]


@needs_ffmpeg
def test_prepared_dirs_read_back_and_segments_hold_speech(tmp_path: Path) -> None:
    stats = prepare_europarl_st(FIXTURE, tmp_path / "data", tmp_path / "flac", nj=2)
    assert stats["train"]["utterances"] == 6 and stats["talks"] == 4
    utts = read_speech_dir(tmp_path / "data" / "train")
    first = utts[0]
    assert first.text == "the sitting is open" and first.path.endswith(".flac")  # scored lower-case, no punctuation
    cased = (tmp_path / "data" / "train" / "text.cased").read_text().splitlines()
    assert cased[0] == f"{first.utt_id} The sitting is open."
    audio = load_audio(first.path, 16000, first.start, first.end)
    assert abs(len(audio) / 16000 - (first.end - first.start)) < 0.02
    whole = load_audio(first.path, 16000)
    silence = whole[: int(0.25 * 16000)]  # the fixture's talks start with 0.3 s of silence
    assert np.abs(silence).max() < 0.05 < np.abs(audio).max()


def test_missing_ffmpeg_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(europarl_st.shutil, "which", lambda name: None)
    with pytest.raises(LegokitError, match="'ffmpeg' is not on PATH.*apt-get install ffmpeg"):
        prepare_europarl_st(FIXTURE, tmp_path / "data", tmp_path / "flac")


def test_readable_audio_is_used_in_place(tmp_path: Path) -> None:
    import soundfile as sf

    sf.write(tmp_path / "talk.flac", np.zeros(1600, dtype=np.float32), 16000)
    assert europarl_st.convert_audio(tmp_path / "talk.flac", tmp_path / "out") == (tmp_path / "talk.flac").resolve()


def test_format_errors_name_file_and_line(tmp_path: Path) -> None:
    split = tmp_path / "train"
    split.mkdir()
    (split / "segments.lst").write_text("talk 0.0 1.0\ntalk 2.0\n")
    (split / "segments.en").write_text("a\nb\n")
    with pytest.raises(LegokitError, match=r"segments.lst:2: expected '<talk> <start_s> <end_s>'"):
        read_split(split, "en")
    (split / "segments.en").write_text("a\n")
    with pytest.raises(LegokitError, match="segments.lst has 2 lines but segments.en has 1"):
        read_split(split, "en")
    with pytest.raises(LegokitError, match="no Europarl-ST release here.*EUROPARL_ST"):
        find_root(tmp_path)
    root = tmp_path / "rel"
    shutil.copytree(FIXTURE, root)
    (root / "v1.1/en/audios/en.20090112.21.3-032.m4a").unlink()
    with pytest.raises(LegokitError, match="no audio for talk 'en.20090112.21.3-032'"):
        prepare_europarl_st(root, tmp_path / "data", tmp_path / "flac")


def _release(tmp_path: Path) -> Path:
    root = tmp_path / "rel"
    shutil.copytree(FIXTURE, root)
    return root / "v1.1" / "en"


def test_test_set_holds_each_stretch_of_speech_once_across_pairs(tmp_path: Path) -> None:
    """en-fr segments the test talk differently from en-de (one segment spanning both of en-de's): the
    union would hold that speech twice; the first pair's segmentation is kept and the clash listed."""
    en = _release(tmp_path)
    (en / "fr/test/segments.lst").write_text("en.20111214.14.3-287 0.30 5.14\nen.20111214.14.3-287 6.00 7.00\n")
    (en / "fr/test/segments.en").write_text("The Council ... answers from us.\nThank you.\n")
    skipped: list[str] = []
    test = collect(en.parent, "en", skipped=skipped)["test"]
    assert [(s.start, s.end) for s in test] == [(0.30, 2.68), (2.98, 5.14), (6.00, 7.00)]
    assert skipped == ["test en.20111214.14.3-287_0000030_0000514 overlaps en.20111214.14.3-287_0000030_0000268 "
                       "(another pair's segmentation)"]


def test_normalisation_is_lower_case_without_punctuation() -> None:
    assert normalise("Mr President, it's the Commission\u2019s \"turn\" - 5%!") == \
        "mr president it's the commission's turn 5"
    assert normalise("... !") == ""


def test_missing_explicit_target_split_is_an_error_and_empty_texts_are_listed(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    en = _release(tmp_path)
    shutil.rmtree(en / "fr/dev")
    with pytest.raises(LegokitError, match=r"fr/dev: not found; --targets fr asks for the en-fr pair"):
        collect(en.parent, "en", targets=["de", "fr"])
    assert len(collect(en.parent, "en")["valid"]) == 2  # discovered pairs: en-de's dev is enough (warned)
    assert main(["corpus", "prepare", "europarl-st", "--root", str(en.parent), "--out", str(tmp_path / "d"),
                 "--targets", "fr"]) == 2
    (en / "de/train/segments.en").write_text((en / "de/train/segments.en").read_text().replace(
        "Parliament adopted the report.", "..."))
    monkeypatch.setattr(europarl_st, "convert_audio", lambda src, audio_dir, sample_rate=16000: src.resolve())
    stats = prepare_europarl_st(en.parent, tmp_path / "data", tmp_path / "flac", targets=["de"])
    assert stats["train"]["utterances"] == 5 and stats["skipped"] == 1
    assert (tmp_path / "data" / "skipped").read_text().endswith("de/train/segments.lst:4 empty transcript ('...')\n")
    cased = prepare_europarl_st(en.parent, tmp_path / "cased", tmp_path / "flac", targets=["de"], cased=True)
    assert cased["train"]["utterances"] == 6  # "..." is text as released

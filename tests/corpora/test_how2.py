"""How2 2000 h release in its real layout (utterance sets with segments, one all_utts_asr.scp, Kaldi
fbank+pitch arks compressed and not) into legokit data dirs and feature dumps."""

from __future__ import annotations

import shutil
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from legokit.cli import main
from legokit.corpora.how2 import ASR_SCP, ASR_SETS, SETS, duration_limits, prepare_how2, video_transcripts
from legokit.data.datadir import read_kaldi_map
from legokit.data.featdump import FeatureReader
from legokit.data.features import CMVNStats
from legokit.errors import LegokitError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "corpora" / "how2"
RELEASE = FIXTURE / "how2_release"
FEATS = RELEASE / "audio" / "fbank_pitch"


def _released(set_name: str) -> dict[str, np.ndarray]:
    """The release's features of one set, read with kaldiio as ESPnet's data.sh points at them."""
    ids = read_kaldi_map(RELEASE / "data" / set_name / "text")
    scp = FEATS / (ASR_SCP if set_name.endswith("_utt") else f"{set_name}.scp")
    return {utt: kaldiio.load_mat(str(FEATS / loc)) for utt, loc in read_kaldi_map(scp).items() if utt in ids}


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "how2"
    shutil.copytree(FIXTURE, root)
    return root / "how2_release"


def test_dumps_equal_the_released_features_and_cmvn(tmp_path: Path) -> None:
    stats = prepare_how2(FIXTURE, tmp_path / "data", tmp_path / "dump")
    assert {name: stats[name]["kept"] for name in SETS} == {"train": 4, "valid": 2, "test": 2}
    assert {name: stats[name]["kept"] for name in ASR_SETS} == {"asr_train": 12, "asr_valid": 6, "asr_test": 6}
    for name, set_name in (SETS | ASR_SETS).items():
        reader, released = FeatureReader(tmp_path / "dump" / name / "feats.scp"), _released(set_name)
        assert reader.dim == 43 and set(reader.index) == set(released)  # the held-out utterances stay out
        for utt, mat in released.items():
            np.testing.assert_array_equal(reader[utt], mat)
        assert set(read_kaldi_map(tmp_path / "data" / name / "text")) == set(released)
        assert not (tmp_path / "dump" / name / "skipped").exists()
    mats = np.concatenate(list(_released("tr_2000h_sum").values()))
    mean, std = CMVNStats.load(tmp_path / "dump" / "train" / "cmvn.json").mean_std()
    np.testing.assert_allclose(mean, mats.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, mats.std(0), rtol=1e-4)


def test_max_frames_trims_long_videos(tmp_path: Path) -> None:
    prepare_how2(RELEASE, tmp_path / "data", tmp_path / "dump", max_frames=50, sets=["valid"])
    reader = FeatureReader(tmp_path / "dump" / "valid" / "feats.scp")
    assert all(reader.num_frames(u) == 50 for u in reader.index)
    asr = FeatureReader(tmp_path / "dump" / "asr_valid" / "feats.scp")  # ASR utterances are never trimmed
    assert sorted(asr.num_frames(u) for u in asr.index) == sorted(m.shape[0] for m in _released("cv05_utt").values())


def test_videos_are_joined_in_order_of_segment_start_time(tmp_path: Path) -> None:
    # suffix order (1, 2, 10), string order (1, 10, 2) and time order (2, 10, 1) all differ
    segments = {"a_b-c_1": ("a_b-c", 9.5), "a_b-c_10": ("a_b-c", 3.0), "a_b-c_2": ("a_b-c", 0.0), "x_0": ("x", 1.0)}
    texts = {"a_b-c_1": "z", "a_b-c_10": "y", "a_b-c_2": "w", "x_0": "v"}
    assert video_transcripts(texts, segments, Path("segments")) == {"a_b-c": "w y z", "x": "v"}
    prepare_how2(FIXTURE, tmp_path / "data", tmp_path / "dump")
    for name in SETS:  # the fixture's utterances split each summary in three, numbered out of time order
        assert read_kaldi_map(tmp_path / "data" / name / "transcript") == \
            read_kaldi_map(tmp_path / "data" / name / "text")
    assert read_kaldi_map(tmp_path / "data" / "asr_test" / "transcript") == \
        read_kaldi_map(tmp_path / "data" / "asr_test" / "text")


@pytest.mark.parametrize("with_utt2spk", [True, False])
def test_speakers_are_the_videos_for_ids_with_underscores(tmp_path: Path, with_utt2spk: bool) -> None:
    release = _copy(tmp_path)
    if not with_utt2spk:  # optional in the release: the video (segments' second field) is the speaker
        for spk in release.glob("data/*/utt2spk"):
            spk.unlink()
    prepare_how2(release, tmp_path / "data", tmp_path / "dump", sets=["train"])
    videos = read_kaldi_map(tmp_path / "data" / "train" / "utt2spk")
    assert all("_" in v for v in videos) and videos == {v: v for v in videos}
    utt2spk = read_kaldi_map(tmp_path / "data" / "asr_train" / "utt2spk")
    segments = read_kaldi_map(release / "data" / "tr_2000h_utt" / "segments")
    assert utt2spk == {utt: seg.split()[0] for utt, seg in segments.items()}
    assert set(utt2spk.values()) == set(videos)


@pytest.mark.parametrize("missing", ["data/cv05_utt/segments", "data/cv05_utt/text", "data/cv05_sum/text",
                                     "audio/fbank_pitch/all_utts_asr.scp", "audio/fbank_pitch/cv05_sum.scp"])
def test_a_missing_release_file_is_an_error_naming_it(tmp_path: Path, missing: str,
                                                       capsys: pytest.CaptureFixture) -> None:
    release = _copy(tmp_path)
    (release / missing).unlink()
    with pytest.raises(LegokitError, match=f"{release / missing}: not found; the How2 2000 h release has it"):
        prepare_how2(release, tmp_path / "data", tmp_path / "dump", sets=["valid"])
    status = main(["corpus", "prepare", "how2", "--root", str(release.parent), "--out", str(tmp_path / "data"),
                   "--dump-dir", str(tmp_path / "dump")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and f"{release / missing}: not found" in err


def test_the_old_layout_is_refused_naming_the_utterance_set(tmp_path: Path) -> None:
    release = _copy(tmp_path)  # tr_2000h/ without _utt and per-set ASR scps, as legokit used to expect
    for stem in ("tr_2000h", "cv05", "dev5_test"):
        (release / "data" / f"{stem}_utt").rename(release / "data" / stem)
    with pytest.raises(LegokitError, match="tr_2000h_utt/segments: not found"):
        prepare_how2(release, tmp_path / "data", tmp_path / "dump")


def test_duration_filter_drops_long_train_and_valid_videos_only(tmp_path: Path) -> None:
    assert duration_limits(0.1, 100) == (10, 10000)  # ESPnet asr.sh: 0.1 s / 10 ms < frames < 100 s / 10 ms
    assert duration_limits(0.1, 0) is None
    stats = prepare_how2(FIXTURE, tmp_path / "data", tmp_path / "dump", max_duration=1.2)
    frames = {name: {v: m.shape[0] for v, m in _released(SETS[name]).items()} for name in SETS}
    for name in ("train", "valid"):
        long = {v for v, n in frames[name].items() if n >= 120}
        assert long and stats[name]["skipped"] == len(long)
        assert set(read_kaldi_map(tmp_path / "dump" / name / "skipped")) == long
        for kept in ("text", "utt2spk", "transcript"):
            assert set(read_kaldi_map(tmp_path / "data" / name / kept)) == set(frames[name]) - long
        assert set(FeatureReader(tmp_path / "dump" / name / "feats.scp").index) == set(frames[name]) - long
    assert stats["test"]["kept"] == len(frames["test"]) and max(frames["test"].values()) >= 120  # test: all
    assert stats["asr_train"]["kept"] == 12  # utterances are 30-60 frames: inside the bounds


def test_bad_segments_line_and_missing_features(tmp_path: Path) -> None:
    with pytest.raises(LegokitError, match="distributed on request.*HOW2 in db.sh"):
        prepare_how2(tmp_path, tmp_path / "data", tmp_path / "dump")
    release = _copy(tmp_path)
    segments = release / "data" / "cv05_utt" / "segments"
    good = segments.read_text()
    lines = good.splitlines()
    segments.write_text("\n".join(lines[:1] + [lines[1].rsplit(" ", 1)[0]] + lines[2:]) + "\n")
    with pytest.raises(LegokitError, match=r"segments:2: expected '<utterance> <video> <start> <end>'"):
        prepare_how2(release, tmp_path / "data", tmp_path / "dump", sets=["valid"])
    segments.write_text(good)
    scp = release / "audio" / "fbank_pitch" / ASR_SCP
    kept = [line for line in scp.read_text().splitlines() if not line.startswith(lines[0].split()[0] + " ")]
    scp.write_text("\n".join(kept) + "\n")
    with pytest.raises(LegokitError, match=f"{ASR_SCP}: no features for '{lines[0].split()[0]}'"):
        prepare_how2(release, tmp_path / "data", tmp_path / "dump", sets=["valid"])

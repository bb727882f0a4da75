"""How2 2000 h release (Kaldi fbank+pitch arks, compressed and not) into legokit feature dumps."""

from __future__ import annotations

import shutil
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from legokit.corpora.how2 import ASR_SETS, SETS, prepare_how2, video_transcripts
from legokit.data.datadir import read_kaldi_map
from legokit.data.featdump import FeatureReader
from legokit.data.features import CMVNStats
from legokit.errors import LegokitError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "corpora" / "how2"
FEATS = FIXTURE / "how2_release" / "audio" / "fbank_pitch"


def _released(set_name: str) -> dict[str, np.ndarray]:
    return {utt: kaldiio.load_mat(str(FEATS / loc)) for utt, loc in read_kaldi_map(FEATS / f"{set_name}.scp").items()}


def test_dumps_equal_the_released_features_and_cmvn(tmp_path: Path) -> None:
    stats = prepare_how2(FIXTURE, tmp_path / "data", tmp_path / "dump")
    assert {name: stats[name]["videos"] for name in SETS} == {"train": 4, "valid": 2, "test": 2}
    assert {name: stats[name]["utterances"] for name in ASR_SETS} == {"asr_train": 8, "asr_valid": 4, "asr_test": 4}
    for name, set_name in (SETS | ASR_SETS).items():
        reader, released = FeatureReader(tmp_path / "dump" / name / "feats.scp"), _released(set_name)
        assert reader.dim == 43 and set(reader.index) == set(released)
        for utt, mat in released.items():
            np.testing.assert_array_equal(reader[utt], mat)
        assert set(read_kaldi_map(tmp_path / "data" / name / "text")) == set(released)
    mats = np.concatenate(list(_released("tr_2000h_sum").values()))
    mean, std = CMVNStats.load(tmp_path / "dump" / "train" / "cmvn.json").mean_std()
    np.testing.assert_allclose(mean, mats.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, mats.std(0), rtol=1e-4)


def test_max_frames_trims_long_videos(tmp_path: Path) -> None:
    prepare_how2(FIXTURE / "how2_release", tmp_path / "data", tmp_path / "dump", max_frames=50, sets=["valid"])
    reader = FeatureReader(tmp_path / "dump" / "valid" / "feats.scp")
    assert all(reader.num_frames(u) == 50 for u in reader.index)
    asr = FeatureReader(tmp_path / "dump" / "asr_valid" / "feats.scp")  # ASR utterances are never trimmed
    assert sorted(asr.num_frames(u) for u in asr.index) == sorted(m.shape[0] for m in _released("cv05").values())


def test_video_transcripts_join_utterances_in_order(tmp_path: Path) -> None:
    assert video_transcripts({"a_b-c_10": "z", "a_b-c_2": "y", "x_0": "w"}) == {"a_b-c": "y z", "x": "w"}
    prepare_how2(FIXTURE, tmp_path / "data", tmp_path / "dump", sets=["test"])
    summaries = read_kaldi_map(tmp_path / "data" / "test" / "text")
    transcripts = read_kaldi_map(tmp_path / "data" / "test" / "transcript")
    assert transcripts == summaries  # the fixture's utterances split each summary in two
    assert read_kaldi_map(tmp_path / "data" / "asr_test" / "transcript") == \
        read_kaldi_map(tmp_path / "data" / "asr_test" / "text")


def test_missing_release_and_missing_features(tmp_path: Path) -> None:
    with pytest.raises(LegokitError, match="distributed on request.*HOW2 in db.sh"):
        prepare_how2(tmp_path, tmp_path / "data", tmp_path / "dump")
    root = tmp_path / "how2"
    shutil.copytree(FIXTURE, root)
    scp = root / "how2_release/audio/fbank_pitch/cv05_sum.scp"
    scp.write_text(scp.read_text().splitlines()[0] + "\n")
    with pytest.raises(LegokitError, match="cv05_sum.scp: no features for"):
        prepare_how2(root, tmp_path / "data", tmp_path / "dump", sets=["valid"])

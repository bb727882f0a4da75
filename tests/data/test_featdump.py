import logging

import numpy as np
import pytest
import soundfile as sf
from helpers.datagen import write_speech_dir

from legokit.data.audio import load_audio
from legokit.data.datadir import read_speech_dir
from legokit.data.featdump import FeatureReader, dump_features
from legokit.data.features import CMVNStats, FbankConfig, compute_fbank
from legokit.errors import LegokitError


@pytest.mark.parametrize("nj, shard_size", [(1, 1000), (2, 2)])
def test_dump_equals_direct_computation(tmp_path, nj, shard_size):
    data = write_speech_dir(tmp_path, num=5)
    cfg = FbankConfig(num_mel_bins=40)
    scp = dump_features(data, tmp_path / "dump", cfg, nj=nj, shard_size=shard_size, progress=False)
    reader = FeatureReader(scp)
    utts = read_speech_dir(data)
    assert len(reader) == 5 and reader.dim == 40
    expected = {u.utt_id: compute_fbank(load_audio(u.path), cfg) for u in utts}
    for utt, feats in expected.items():
        np.testing.assert_array_equal(reader[utt], feats)
        assert reader.num_frames(utt) == feats.shape[0]
    lines = scp.read_text().splitlines()
    assert lines == sorted(lines) and len(list((tmp_path / "dump").glob("feats.*.f32"))) == (1 if nj == 1 else 3)
    assert not list((tmp_path / "dump").glob("*.tmp"))
    everything = np.concatenate(list(expected.values())).astype(np.float64)
    mean, std = CMVNStats.load(tmp_path / "dump" / "cmvn.json").mean_std()
    np.testing.assert_allclose(mean, everything.mean(0), rtol=1e-6)
    np.testing.assert_allclose(std, everything.std(0), rtol=1e-5)


def test_too_short_utterance_is_skipped(tmp_path, caplog):
    data = write_speech_dir(tmp_path, num=3)
    sf.write(read_speech_dir(data)[1].path, np.zeros(100, np.float32), 16000)
    with caplog.at_level(logging.WARNING):
        reader = FeatureReader(dump_features(data, tmp_path / "dump", FbankConfig(), progress=False))
    assert len(reader) == 2 and "spk1-utt01" not in reader
    assert "spk1-utt01: skipped: too short: 100 samples at 16000 Hz, less than one 25 ms frame" in caplog.text
    assert (tmp_path / "dump" / "skipped").read_text().startswith("spk1-utt01 too short: ")


def test_failed_run_leaves_no_index(tmp_path):
    data = write_speech_dir(tmp_path, num=4)
    out = tmp_path / "dump"
    dump_features(data, out, FbankConfig(), progress=False)
    bad = read_speech_dir(data)[3].path
    with open(bad, "r+b") as f:  # corrupt one file: the re-run fails part-way
        f.write(b"JUNK")
    with pytest.raises(LegokitError, match=f"{bad}: not a readable audio file"):
        dump_features(data, out, FbankConfig(), progress=False, shard_size=1)
    assert not (out / "feats.scp").exists()  # the old index is gone too: nothing stale is used
    with pytest.raises(LegokitError, match=r"feats.scp: feature index not found .* run `legokit features"):
        FeatureReader(out / "feats.scp")


def test_malformed_index(tmp_path):
    (tmp_path / "fbank.json").write_text('{"dim": 80}')
    (tmp_path / "feats.scp").write_text("a feats.00000.f32:0:10\nb feats.00000.f32\n")
    with pytest.raises(LegokitError, match=r"feats.scp:2: malformed line"):
        FeatureReader(tmp_path / "feats.scp")

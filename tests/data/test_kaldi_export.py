"""`legokit data export-kaldi`: a legokit feature dump as Kaldi feats.ark / feats.scp / cmvn.ark, read by kaldiio."""

from pathlib import Path

import kaldiio
import numpy as np
import pytest
from helpers.datagen import write_speech_dir

from legokit.cli import main
from legokit.data.featdump import FeatureReader, dump_features
from legokit.data.features import CMVNStats, FbankConfig


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    """A dump of 5 utterances in 3 shards."""
    dump_features(write_speech_dir(tmp_path, num=5), tmp_path / "dump", FbankConfig(num_mel_bins=40), nj=2,
                  shard_size=2, progress=False)
    return tmp_path / "dump"


@pytest.mark.parametrize("given", ["directory", "feats.scp"])
def test_kaldiio_reads_the_same_matrices_as_feature_reader(dump: Path, tmp_path: Path, given: str,
                                                           monkeypatch: pytest.MonkeyPatch):
    source = dump if given == "directory" else dump / "feats.scp"
    assert main(["data", "export-kaldi", str(source), str(tmp_path / "kaldi")]) == 0
    monkeypatch.chdir(tmp_path / "kaldi")  # the scp names feats.ark by absolute path: readable from anywhere
    reader, exported = FeatureReader(dump / "feats.scp"), kaldiio.load_scp("feats.scp")
    assert list(exported) == list(reader.index) and len(exported) == 5
    for utt in reader.index:
        matrix = exported[utt]
        assert matrix.dtype == np.float32
        np.testing.assert_array_equal(matrix, reader[utt])
    cmvn, stats = kaldiio.load_mat("cmvn.ark"), CMVNStats.load(dump / "cmvn.json")
    assert cmvn.shape == (2, 41) and cmvn[0, -1] == stats.count == sum(len(reader[u]) for u in reader.index)
    np.testing.assert_array_equal(cmvn[0, :-1], stats.sum)
    np.testing.assert_array_equal(cmvn[1, :-1], stats.sumsq)


def test_export_into_the_dump_itself_is_refused(dump: Path, capsys: pytest.CaptureFixture[str]):
    index = (dump / "feats.scp").read_bytes()
    assert main(["data", "export-kaldi", str(dump), str(dump)]) == 2
    assert f"{dump / 'feats.scp'}: refusing to overwrite the input" in capsys.readouterr().err
    assert (dump / "feats.scp").read_bytes() == index and not (dump / "feats.ark").exists()


def test_missing_dump_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["data", "export-kaldi", str(tmp_path / "nodump"), str(tmp_path / "kaldi")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("legokit data: error: ") and "feature index not found" in err and err.count("\n") == 1
    assert not (tmp_path / "kaldi").exists()

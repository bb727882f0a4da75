"""`legokit data split|merge-hyps|merge-feats`: Kaldi's splitN layout with every file filtered consistently, and
merges that give back the unsplit result (decode hypotheses; feature dumps with their global CMVN) — the jobs
run on a real SLURM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.datagen import tone, write_speech_dir

from legokit.cli import main
from legokit.data.datadir import read_kaldi_map, read_speech_dir, read_text_dir
from legokit.data.featdump import FeatureReader
from legokit.data.features import CMVNStats

QUIET = ["--log-level", "WARNING"]


def _segmented_dir(root: Path) -> Path:
    """Two recordings cut into five segments, two speakers, a spk2gender and a README (not a Kaldi file)."""
    data = root / "seg"
    data.mkdir()
    for rec in ("r1", "r2"):
        sf.write(root / f"{rec}.wav", tone(2.0, 300.0), 16000)
    (data / "wav.scp").write_text(f"r1 {root}/r1.wav\nr2 {root}/r2.wav\n")
    utts = [("a1", "r1", 0.0, 0.5, "sa"), ("a2", "r1", 0.5, 1.0, "sa"), ("a3", "r1", 1.0, 1.5, "sb"),
            ("b1", "r2", 0.0, 0.7, "sb"), ("b2", "r2", 0.7, 1.4, "sb")]
    (data / "segments").write_text("".join(f"{u} {r} {s} {e}\n" for u, r, s, e, _ in utts))
    (data / "text").write_text("".join(f"{u} words of {u}\n" for u, *_ in utts))
    (data / "utt2spk").write_text("".join(f"{u} {spk}\n" for u, *_, spk in utts))
    (data / "spk2utt").write_text("sa a1 a2\nsb a3 b1 b2\n")
    (data / "spk2gender").write_text("sa f\nsb m\n")
    (data / "README").write_text("made by hand\n")
    return data


def test_split_speech_dir_with_segments(tmp_path: Path) -> None:
    data = _segmented_dir(tmp_path)
    assert main([*QUIET, "data", "split", str(data), "3"]) == 0
    parts = [data / "split3" / str(k) for k in (1, 2, 3)]
    assert [list(read_kaldi_map(p / "text")) for p in parts] == [["a1", "a2"], ["a3", "b1"], ["b2"]]
    assert (parts[0] / "wav.scp").read_text() == f"r1 {tmp_path}/r1.wav\n"
    assert (parts[1] / "wav.scp").read_text() == f"r1 {tmp_path}/r1.wav\nr2 {tmp_path}/r2.wav\n"
    assert (parts[1] / "spk2utt").read_text() == "sb a3 b1\n"
    assert (parts[0] / "spk2gender").read_text() == "sa f\n"
    assert not (parts[0] / "README").exists()
    whole = read_speech_dir(data)
    assert [u for p in parts for u in read_speech_dir(p)] == whole  # every file agrees, nothing lost
    assert main([*QUIET, "data", "split", str(data), "2"]) == 0  # a second split size beside the first
    assert [len(read_speech_dir(data / "split2" / k)) for k in ("1", "2")] == [3, 2]


def test_split_mt_dir_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "mt"
    data.mkdir()
    (data / "text.de").write_text("".join(f"s{i} satz {i}\n" for i in range(5)))
    (data / "text.en").write_text("".join(f"s{i} sentence {i}\n" for i in range(5)))
    assert main([*QUIET, "data", "split", str(data), "2"]) == 0
    parts = [read_text_dir(data / "split2" / k, ["de", "en"]) for k in ("1", "2")]
    assert parts[0] + parts[1] == read_text_dir(data, ["de", "en"]) and len(parts[0]) == 3
    assert main(["data", "split", str(data), "6"]) == 2
    assert f"{data}: cannot split 5 utterances into 6 parts; use 1..5 jobs" in capsys.readouterr().err
    (data / "utt2spk").write_text("s0 x\n")
    assert main(["data", "split", str(data), "2"]) == 2
    assert f"{data}/utt2spk: utterance 's1' of {data} is missing" in capsys.readouterr().err


def test_merge_hyps_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "mt"
    data.mkdir()
    (data / "text.de").write_text("a x\nb y\nc z\n")
    (tmp_path / "hyp.1").write_text("b Y\n")
    (tmp_path / "hyp.1.skipped").write_text("a too long\n")
    argv = ["data", "merge-hyps", "--data-dir", str(data), "--nj", "2", "--out", str(tmp_path / "hyp"),
            str(tmp_path / "hyp.JOB")]
    assert main(argv) == 2
    assert f"{tmp_path}/hyp.2: hypotheses of this split not found" in capsys.readouterr().err
    (tmp_path / "hyp.2").write_text("b Y\nc Z\n")
    assert main(argv) == 2
    assert f"{tmp_path}/hyp.2: id 'b' is also in {tmp_path}/hyp.1; the splits overlap" in capsys.readouterr().err
    (tmp_path / "hyp.2").write_text("c Z\n")
    assert main(argv) == 0
    assert (tmp_path / "hyp").read_text() == "b Y\nc Z\n" and (tmp_path / "hyp.skipped").read_text() == "a too long\n"
    (tmp_path / "hyp.1.skipped").unlink()
    assert main(argv) == 2
    assert f"{data}: 1 id(s) are in no split's hypotheses, first 'a'" in capsys.readouterr().err


@pytest.mark.slow
def test_decode_split_on_slurm_equals_unsplit(slurm: Path, toy_model: Path, mt_dir: Path, tmp_path: Path) -> None:
    model, exp = toy_model / "model.pt", tmp_path / "exp"
    decode = ["legokit", *QUIET, "decode", "--model", str(model), "--src-lang", "de"]
    assert main([*QUIET, "data", "split", str(mt_dir), "2"]) == 0
    assert main([*QUIET, "queue", "--cmd", "slurm", "--kind", "decode", "--jobs", "JOB=1:2", f"{exp}/log/dec.JOB.log",
                 "--", *decode, "--data-dir", f"{mt_dir}/split2/JOB", "--out", f"{exp}/split2/hyp.JOB"]) == 0
    assert main([*QUIET, "data", "merge-hyps", "--data-dir", str(mt_dir), "--nj", "2", "--out", f"{exp}/hyp",
                 f"{exp}/split2/hyp.JOB"]) == 0
    assert main([*QUIET, "decode", "--model", str(model), "--src-lang", "de", "--data-dir", str(mt_dir),
                 "--out", f"{exp}/hyp.whole"]) == 0
    merged = (exp / "hyp").read_text()
    assert merged == (exp / "hyp.whole").read_text() and [line.split()[0] for line in merged.splitlines()] == ["a", "b"]


@pytest.mark.slow
def test_features_split_on_slurm_equal_unsplit(slurm: Path, tmp_path: Path) -> None:
    data = write_speech_dir(tmp_path, num=5)
    dump = tmp_path / "dump"
    assert main([*QUIET, "data", "split", str(data), "2"]) == 0
    assert main([*QUIET, "queue", "--cmd", "slurm", "--kind", "features", "--jobs", "JOB=1:2",
                 f"{dump}/log/feats.JOB.log", "--", "legokit", *QUIET, "features", "--data-dir",
                 f"{data}/split2/JOB", "--out-dir", f"{dump}/split2/JOB", "--shard-size", "2"]) == 0
    assert main([*QUIET, "data", "merge-feats", "--data-dir", str(data), "--nj", "2", "--out-dir", str(dump),
                 f"{dump}/split2/JOB"]) == 0
    assert main([*QUIET, "features", "--data-dir", str(data), "--out-dir", str(tmp_path / "whole")]) == 0
    merged, whole = FeatureReader(dump / "feats.scp"), FeatureReader(tmp_path / "whole" / "feats.scp")
    assert sorted(merged.index) == sorted(whole.index) and len(merged) == 5
    for utt in whole.index:
        np.testing.assert_array_equal(merged[utt], whole[utt])
    split_stats, whole_stats = CMVNStats.load(dump / "cmvn.json"), CMVNStats.load(tmp_path / "whole" / "cmvn.json")
    assert split_stats.count == whole_stats.count
    for a, b in zip(split_stats.mean_std(), whole_stats.mean_std()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    (dump / "split2" / "2" / "feats.scp").unlink()
    assert main(["data", "merge-feats", "--data-dir", str(data), "--nj", "2", "--out-dir", str(dump),
                 f"{dump}/split2/JOB"]) == 2

"""Class 10 of issue 19: nothing is skipped silently. An utterance `legokit features` leaves out is logged
and listed (``<out-dir>/skipped``), `legokit decode` lists it again next to its output (``<out>.skipped``),
and `legokit score` counts it: scored as an empty hypothesis (all deletions, as sclite does), with a warning
and ``missing`` in the scores. A header that makes 16 samples last 16 s (1 Hz) is refused."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from robustness.cases import write_wav

from legokit.cli import main
from legokit.config import load_config
from legokit.data.audio import load_audio
from legokit.data.datadir import read_kaldi_map
from legokit.data.featdump import dump_features
from legokit.data.features import FbankConfig
from legokit.data.tokenizer import train_tokenizer
from legokit.errors import LegokitError
from legokit.fileio import read_text_lines
from legokit.workflows.experiment import ExperimentConfig, build_model, export_bricks, load_data

TOO_SHORT = "too short: 100 samples at 16000 Hz, less than one 25 ms frame"


@pytest.fixture(scope="module")
def asr_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny ASR model.pt (conformer encoder with CTC, attention decoder, word vocabulary)."""
    tmp = tmp_path_factory.mktemp("asr")
    data = tmp / "train"
    data.mkdir()
    for utt in ("u1", "u2"):
        write_wav(tmp / f"{utt}.wav")
    (data / "wav.scp").write_text(f"u1 {tmp}/u1.wav\nu2 {tmp}/u2.wav\n")
    (data / "text").write_text("u1 hello world\nu2 good morning\n")
    (data / "utt2spk").write_text("u1 s1\nu2 s1\n")
    feats = dump_features(data, tmp / "dump", FbankConfig(), progress=False)
    tok = train_tokenizer([str(data / "text")], str(tmp / "words"), 8, model_type="word", kaldi_text=True)
    cfg = load_config(ExperimentConfig, None, [
        "data.task=asr", "model.encoder.input=speech", "model.encoder.ctc_head=true", "loss.ctc_weight=0.5",
        "model.encoder.encoder.kind=conformer", "model.encoder.encoder.num_layers=1", "model.encoder.encoder.dim=16",
        "model.encoder.encoder.num_heads=2", "model.encoder.encoder.ffn_dim=32", "model.encoder.length_rate=null",
        "model.decoder.dim=16", "model.decoder.num_layers=1", "model.decoder.num_heads=2", "model.decoder.ffn_dim=32",
        "model.decoder.ingestor.kind=states", f"data.train_dir={data}", f"data.valid_dir={data}",
        f"data.train_feats={feats}", f"data.valid_feats={feats}", f"data.tgt_tokenizer={tok}"])
    data_ = load_data(cfg.data)
    built, loaded = build_model(cfg, data_)
    export_bricks(built, data_, tmp / "exp", training={}, loaded=loaded)
    return tmp / "exp" / "model.pt"


@pytest.fixture
def test_dir(speech_dir: Path, tmp_path: Path) -> Path:
    """``speech_dir`` (u1, u2) plus u3, whose 100 samples are shorter than one 25 ms frame."""
    write_wav(tmp_path / "u3.wav", seconds=100 / 16000)
    with open(speech_dir / "wav.scp", "a") as f:
        f.write(f"u3 {tmp_path}/u3.wav\n")
    with open(speech_dir / "text", "a") as f:
        f.write("u3 hi\n")
    with open(speech_dir / "utt2spk", "a") as f:
        f.write("u3 s1\n")
    return speech_dir


def test_a_too_short_utterance_is_listed_by_features_decode_and_score(
        test_dir: Path, asr_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.WARNING)  # whatever level an earlier in-process `legokit --log-level` left
    dump, hyp = tmp_path / "dump", tmp_path / "decode" / "hyp"
    assert main(["features", "--data-dir", str(test_dir), "--out-dir", str(dump)]) == 0
    assert f"u3: skipped: {TOO_SHORT}" in caplog.text
    assert read_text_lines(dump / "skipped") == [f"u3 {TOO_SHORT}"]
    assert list(read_kaldi_map(dump / "feats.scp")) == ["u1", "u2"]

    caplog.clear()
    assert main(["decode", "--model", str(asr_model), "--data-dir", str(test_dir), "--feats",
                 str(dump / "feats.scp"), "--out", str(hyp), "beam.beam_size=2"]) == 0
    assert [line.split(" ", 1)[0] for line in read_text_lines(hyp)] == ["u1", "u2"]
    assert read_text_lines(tmp_path / "decode" / "hyp.skipped") == [f"u3 {TOO_SHORT}"]
    assert f"1 input(s) were skipped, listed with the reason in {hyp}.skipped" in caplog.text

    caplog.clear()
    capsys.readouterr()
    assert main(["score", "wer", "--ref", str(test_dir / "text"), "--hyp", str(hyp), "--kaldi", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scores["missing"] == 1 and scores["wer"] >= 100 * 1 / 5  # u3's word is at least one deletion
    assert "1 of 3 reference ids have no hypothesis" in caplog.text and "u3" in caplog.text

    # a previous run's list does not outlive a run without skips
    (test_dir / "text").write_text("u1 hello world\nu2 good morning\n")
    assert main(["decode", "--model", str(asr_model), "--data-dir", str(test_dir), "--feats",
                 str(dump / "feats.scp"), "--out", str(hyp), "beam.beam_size=2"]) == 0
    assert not (tmp_path / "decode" / "hyp.skipped").exists()


def test_a_missing_hypothesis_is_a_full_deletion_and_counted_in_results(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, hyp = tmp_path / "ref", tmp_path / "hyp"
    ref.write_text("u1 a b c d\nu2 e f g h\n")
    hyp.write_text("u1 a b c d\n")
    assert main(["score", "wer", "--ref", str(ref), "--hyp", str(hyp), "--kaldi"]) == 0
    assert capsys.readouterr().out.splitlines() == ["wer\t50.00", "missing\t1"]
    exp = tmp_path / "exp"
    assert main(["results", "--exp-dir", str(exp), "--test-set", "test", "--ref", str(ref), "--hyp", str(hyp),
                 "--kaldi", "--metrics", "wer"]) == 0
    assert "missing" in (exp / "RESULTS.md").read_text()
    hyp.write_text("u1 a b c d\nu9 x\n")  # an id the reference does not have: the wrong file, refused
    assert main(["score", "wer", "--ref", str(ref), "--hyp", str(hyp), "--kaldi"]) == 2


def _wav_header_rate(path: Path, rate: int) -> Path:
    """Rewrite the sample rate (and byte rate) fields of a PCM-16 mono WAV header."""
    data = bytearray(path.read_bytes())
    data[24:32] = struct.pack("<II", rate, rate * 2)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("rate", [1, 999, 400_000])
def test_an_implausible_sample_rate_is_refused(rate: int, tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros(16, dtype=np.float32), 16000, subtype="PCM_16")
    _wav_header_rate(path, rate)
    with pytest.raises(LegokitError, match=rf"x.wav: implausible sample rate {rate} Hz in the header"):
        load_audio(str(path))


def test_plausible_sample_rates_still_load(tmp_path: Path) -> None:
    for rate in (8000, 44100):
        assert load_audio(str(write_wav(tmp_path / f"{rate}.wav", sample_rate=rate)), 16000).shape == (8000,)


def test_an_implausible_sample_rate_fails_features_in_one_line(speech_dir: Path, tmp_path: Path,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    wav = Path(read_kaldi_map(speech_dir / "wav.scp")["u2"])
    _wav_header_rate(wav, 1)
    assert main(["--log-level", "ERROR", "features", "--data-dir", str(speech_dir), "--out-dir",
                 str(tmp_path / "dump")]) == 2
    err = capfd.readouterr().err.strip()
    assert err == (f"legokit features: error: {wav}: implausible sample rate 1 Hz in the header (expected 1000 to "
                   "384000 Hz); the header is damaged: re-create the file")

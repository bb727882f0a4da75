"""`legokit decode ... ctc_lm.arpa=LM` on a CTC-only model: n-gram LM search in the decode workflow and in
legokit.load; refused in one line for a model with a decoder."""

from __future__ import annotations

from pathlib import Path

import pytest

import legokit
from legokit.cli import main
from legokit.data.datadir import read_kaldi_map
from legokit.decode.ctc_lm import CTCLMConfig
from legokit.lm.ngram import train_arpa
from legokit.workflows.decode import DecodeConfig


@pytest.fixture(scope="module")
def arpa(speech_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    data, _ = speech_data
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    train_arpa([data / "text"], path, order=2, kaldi_text=True)
    return path


def test_ctc_only_model_decodes_with_the_lm_like_legokit_load(asr_model: Path, speech_data: tuple[Path, Path],
                                                              arpa: Path, tmp_path: Path) -> None:
    data, feats = speech_data
    encoder = asr_model / "bricks" / "encoder.brick"  # a single encoder brick: CTC only, no decoder
    out = tmp_path / "hyp"
    assert main(["--log-level", "WARNING", "decode", "--model", str(encoder), "--data-dir", str(data),
                 "--feats", str(feats), "--out", str(out), f"ctc_lm.arpa={arpa}", "ctc_lm.alpha=0.7",
                 "ctc_lm.beam=4"]) == 0
    hyps = read_kaldi_map(out, allow_empty_value=True)
    wavs = read_kaldi_map(data / "wav.scp")
    assert sorted(hyps) == sorted(read_kaldi_map(data / "text"))
    cfg = DecodeConfig(ctc_lm=CTCLMConfig(arpa=str(arpa), alpha=0.7, beam=4), max_source_frames=10_000_000)
    results = legokit.load(encoder, config=cfg).transcribe(list(wavs.values()))
    assert [r.text.strip() for r in results] == [hyps[utt] for utt in wavs]  # a Kaldi line has no trailing space


def test_a_model_with_a_decoder_is_refused_in_one_line(asr_model: Path, speech_data: tuple[Path, Path], arpa: Path,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, feats = speech_data
    code = main(["decode", "--model", str(asr_model / "model.pt"), "--data-dir", str(data), "--feats", str(feats),
                 "--out", str(tmp_path / "hyp"), f"ctc_lm.arpa={arpa}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "has a decoder; the n-gram LM search is only for CTC-only models" in err[-1]
    assert not (tmp_path / "hyp").exists()

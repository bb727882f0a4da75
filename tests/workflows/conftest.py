"""Tiny exported models for the inference tests: the toy De->En MT chain and a speech (ASR) chain."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.datagen import write_speech_dir
from robustness.conftest import toy_model, toy_tokenizers  # noqa: F401  (fixtures)

from legokit.cli import main
from legokit.config import load_config
from legokit.data.tokenizer import train_tokenizer
from legokit.workflows.experiment import ExperimentConfig, build_model, export_bricks, load_data

#: a 1-layer restricted-attention Conformer (window 8 after x4 subsampling) with CTC head and a small decoder
SPEECH = ["data.task=asr", "model.encoder.input=speech", "model.encoder.feat_dim=80",
          "model.encoder.encoder.kind=conformer", "model.encoder.encoder.num_layers=1", "model.encoder.encoder.dim=16",
          "model.encoder.encoder.num_heads=2", "model.encoder.encoder.ffn_dim=32", "model.encoder.encoder.window=8",
          "model.encoder.encoder.kernel_size=5", "model.encoder.length_rate=null", "model.decoder.dim=16",
          "model.decoder.num_layers=1", "model.decoder.num_heads=2", "model.decoder.ffn_dim=32",
          "model.decoder.ingestor.num_layers=1", "model.decoder.ingestor.ffn_dim=32"]


@pytest.fixture(scope="session")
def speech_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data dir of five tone recordings, its feature dump's feats.scp)."""
    root = tmp_path_factory.mktemp("speech")
    data = write_speech_dir(root)
    assert main(["--log-level", "WARNING", "features", "--data-dir", str(data), "--out-dir", str(root / "dump")]) == 0
    return data, root / "dump" / "feats.scp"


@pytest.fixture(scope="session")
def asr_model(speech_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained) exported ASR experiment dir: bricks/{encoder,decoder}.brick and model.pt."""
    data, feats = speech_data
    out = tmp_path_factory.mktemp("asr")
    spm = train_tokenizer([str(data / "text")], str(out / "words"), 17, model_type="word", kaldi_text=True)
    cfg = load_config(ExperimentConfig, None, SPEECH + [f"data.train_dir={data}", f"data.valid_dir={data}",
                                                        f"data.train_feats={feats}", f"data.valid_feats={feats}",
                                                        f"data.tgt_tokenizer={spm}"])
    experiment = load_data(cfg.data)
    torch.manual_seed(0)  # the same weights whichever test builds this session fixture first
    built, loaded = build_model(cfg, experiment)
    export_bricks(built, experiment, out, training={}, loaded=loaded)
    return out

"""Valid inputs that the bad-input tests then break: audio, data dirs, a tokenizer, bricks, a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from robustness.cases import write_wav

from legokit.config import load_config
from legokit.data.tokenizer import train_tokenizer
from legokit.train.checkpoint import save_checkpoint
from legokit.workflows.experiment import ExperimentConfig, build_model, export_bricks, load_data

LEGO = Path(__file__).parents[1] / "fixtures" / "lego"
#: a very small De->En LegoNN chain on the toy fixture (word-level vocabularies: whole toy grammar + 4 specials)
TINY = ["model.encoder.encoder.kind=transformer", "model.encoder.encoder.num_layers=1",
        "model.encoder.encoder.dim=16", "model.encoder.encoder.num_heads=2", "model.encoder.encoder.ffn_dim=32",
        "model.encoder.length_rate=2.0", "model.encoder.olc_layers=1", "model.decoder.dim=16",
        "model.decoder.num_layers=1", "model.decoder.num_heads=2", "model.decoder.ffn_dim=32",
        "model.decoder.ingestor.num_layers=1", "model.decoder.ingestor.ffn_dim=32", "data.max_tokens=700",
        "optim.warmup_steps=10", "train.keep_best=2", "average_best=2"]


@pytest.fixture
def speech_dir(tmp_path: Path) -> Path:
    """A valid speech data dir of two utterances (data/ with wav.scp, text, utt2spk)."""
    data = tmp_path / "data"
    data.mkdir()
    for utt in ("u1", "u2"):
        write_wav(tmp_path / f"{utt}.wav")
    (data / "wav.scp").write_text(f"u1 {tmp_path}/u1.wav\nu2 {tmp_path}/u2.wav\n")
    (data / "text").write_text("u1 hello world\nu2 good morning\n")
    (data / "utt2spk").write_text("u1 s1\nu2 s1\n")
    return data


@pytest.fixture
def mt_dir(tmp_path: Path) -> Path:
    """A valid MT data dir with text.de / text.en."""
    data = tmp_path / "mt"
    data.mkdir()
    (data / "text.de").write_text("a guten morgen\nb hallo welt\n")
    (data / "text.en").write_text("a good morning\nb hello world\n")
    return data


def tiny_overrides(tokenizers: Path) -> list[str]:
    """Overrides for a tiny De->En run on the toy fixture with the tokenizers of :func:`toy_tokenizers`."""
    return TINY + ["data.src_lang=de", "data.tgt_lang=en", f"data.train_dir={LEGO / 'train'}",
                   f"data.valid_dir={LEGO / 'valid'}", f"data.src_tokenizer={tokenizers / 'de.model'}",
                   f"data.tgt_tokenizer={tokenizers / 'en.model'}"]


@pytest.fixture(scope="session")
def toy_tokenizers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory with de.model and en.model (word-level sentencepiece models of the toy fixture)."""
    out = tmp_path_factory.mktemp("tok")
    for lang, size in (("de", 31), ("en", 29)):
        train_tokenizer([str(LEGO / "train" / f"text.{lang}")], str(out / lang), size, model_type="word",
                        kaldi_text=True)
    return out


@pytest.fixture(scope="session")
def toy_model(toy_tokenizers: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained) exported De->En experiment dir: bricks/{encoder,decoder}.brick and model.pt."""
    out = tmp_path_factory.mktemp("exp")
    cfg = load_config(ExperimentConfig, None, tiny_overrides(toy_tokenizers))
    data = load_data(cfg.data)
    torch.manual_seed(0)  # the same weights whichever test builds this session fixture first
    built, loaded = build_model(cfg, data)
    export_bricks(built, data, out, training={}, loaded=loaded)
    return out


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid legokit checkpoint file."""
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint_last.pt"
    save_checkpoint({"model": {"w": torch.ones(3)}, "loop": {"step": 1}}, path)
    return path

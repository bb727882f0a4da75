"""The non-modular baselines LegoNN is measured against overfit tiny committed fixtures: a standard
Transformer encoder-decoder for MT, and a joint CTC/attention Transformer for ASR (real espeak-ng speech)."""

import json
from pathlib import Path

import jiwer
import pytest
from helpers.toy_lego import FIXTURE

from legokit.data.datadir import read_kaldi_map
from legokit.data.featdump import dump_features
from legokit.data.features import FbankConfig
from legokit.data.tokenizer import train_tokenizer
from legokit.workflows.decode import DecodeConfig, decode_dir
from legokit.workflows.experiment import train

ASR_FIXTURE = Path(__file__).parents[1] / "fixtures" / "asr"
SMALL = ["model.encoder.encoder.kind=transformer", "model.encoder.encoder.num_layers=2",
         "model.encoder.encoder.dim=64", "model.encoder.encoder.num_heads=4", "model.encoder.encoder.ffn_dim=128",
         "model.encoder.encoder.dropout=0.0", "model.encoder.length_rate=null", "model.decoder.dim=64",
         "model.decoder.num_layers=2", "model.decoder.num_heads=4", "model.decoder.ffn_dim=128",
         "model.decoder.dropout=0.0", "model.decoder.ingestor.kind=states", "optim.lr=3e-3",
         "optim.warmup_steps=20", "optim.clip_grad_norm=5.0", "train.log_interval=1000", "average_best=1"]


def _subset(src: Path, dst: Path, n: int, files: list[str]) -> Path:
    dst.mkdir(parents=True)
    for name in files:
        lines = (src / name).read_text().splitlines()[:n]
        (dst / name).write_text("\n".join(lines) + "\n")
    return dst


def _word_tokenizer(text: Path, prefix: Path) -> str:
    words = {w for line in read_kaldi_map(text).values() for w in line.split()}
    return train_tokenizer([str(text)], str(prefix), len(words) + 4, model_type="word", kaldi_text=True)


def _first_loss(exp: Path) -> tuple[float, float]:
    """First and last validation loss per token (metrics.jsonl)."""
    records = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["event"] == "valid"]
    return losses[0], losses[-1]


@pytest.mark.slow
def test_transformer_mt_baseline_overfits(tmp_path):
    data = _subset(FIXTURE / "train", tmp_path / "data", 40, ["text.de", "text.en"])
    src = _word_tokenizer(data / "text.de", tmp_path / "de")
    tgt = _word_tokenizer(data / "text.en", tmp_path / "en")
    train(None, SMALL + ["model.encoder.ctc_head=false", "loss.ctc_weight=0.0", f"data.train_dir={data}",
                         f"data.valid_dir={data}", f"data.src_tokenizer={src}", f"data.tgt_tokenizer={tgt}",
                         "train.max_epochs=120", "data.max_tokens=2000"], tmp_path / "exp")
    first, last = _first_loss(tmp_path / "exp")
    assert last < 0.2 * first
    decode_dir(tmp_path / "exp" / "model.pt", data, tmp_path / "hyp", DecodeConfig(), src_lang="de")
    refs, hyps = read_kaldi_map(data / "text.en"), read_kaldi_map(tmp_path / "hyp")
    exact = sum(hyps[k] == refs[k] for k in refs) / len(refs)
    assert exact >= 0.9, (exact, list(hyps.items())[:5])


@pytest.mark.slow
def test_joint_ctc_attention_asr_baseline_overfits(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("text", "utt2spk"):
        (data / name).write_text((ASR_FIXTURE / name).read_text())
    (data / "wav.scp").write_text("".join(f"{utt} {ASR_FIXTURE / path}\n"
                                          for utt, path in read_kaldi_map(ASR_FIXTURE / "wav.scp").items()))
    feats = dump_features(data, tmp_path / "dump", FbankConfig(), progress=False)
    tok = _word_tokenizer(data / "text", tmp_path / "words")
    train(None, SMALL + ["data.task=asr", "model.encoder.input=speech", "model.encoder.ctc_head=true",
                         "loss.ctc_weight=0.5", f"data.train_dir={data}", f"data.valid_dir={data}",
                         f"data.train_feats={feats}", f"data.valid_feats={feats}", f"data.tgt_tokenizer={tok}",
                         "train.max_epochs=250", "data.max_tokens=100000"], tmp_path / "exp")
    first, last = _first_loss(tmp_path / "exp")
    assert last < 0.2 * first
    decode = DecodeConfig()
    decode.beam.ctc_weight = 0.3  # joint CTC/attention decoding, as ESPnet decodes this model
    decode_dir(tmp_path / "exp" / "model.pt", data, tmp_path / "hyp", decode, feats=feats)
    refs, hyps = read_kaldi_map(data / "text"), read_kaldi_map(tmp_path / "hyp", allow_empty_value=True)
    wer = jiwer.wer([refs[k] for k in refs], [hyps[k] for k in refs])
    assert wer < 0.1, (wer, hyps)

"""Shared settings of the LegoNN end-to-end tests on the toy fixture (tests/fixtures/lego)."""

from pathlib import Path

import sacrebleu

from legokit.data.datadir import read_kaldi_map

FIXTURE = Path(__file__).parents[1] / "fixtures" / "lego"
VOCAB = {"en": 29, "de": 31, "ro": 28}  # word-level: every word of the toy grammar + 4 specials

ARCH = ["model.encoder.encoder.kind=transformer", "model.encoder.encoder.num_layers=2",
        "model.encoder.encoder.dim=64", "model.encoder.encoder.num_heads=4", "model.encoder.encoder.ffn_dim=128",
        "model.encoder.encoder.dropout=0.1", "model.encoder.length_rate=2.0", "model.encoder.olc_layers=1"]
DECODER = ["model.decoder.dim=64", "model.decoder.num_layers=2", "model.decoder.num_heads=4",
           "model.decoder.ffn_dim=128", "model.decoder.ingestor.num_layers=1", "model.decoder.ingestor.ffn_dim=128"]
TRAIN = ["optim.lr=3e-3", "optim.warmup_steps=30", "optim.clip_grad_norm=5.0", "data.max_tokens=700",
         "train.log_interval=50", "train.keep_best=2", "average_best=2"]


def data_args(tmp: Path, src: str) -> list[str]:
    """Overrides for the toy MT data with tokenizers <tmp>/<lang>.model."""
    return [f"data.src_lang={src}", "data.tgt_lang=en", f"data.train_dir={FIXTURE / 'train'}",
            f"data.valid_dir={FIXTURE / 'valid'}", f"data.src_tokenizer={tmp / src}.model",
            f"data.tgt_tokenizer={tmp / 'en'}.model"]


def bleu(hyp: Path) -> float:
    """Corpus BLEU of a Kaldi-format hypothesis file against the toy test set's English side."""
    refs, hyps = read_kaldi_map(FIXTURE / "test" / "text.en"), read_kaldi_map(hyp)
    return sacrebleu.corpus_bleu([hyps[k] for k in refs], [[refs[k] for k in refs]]).score

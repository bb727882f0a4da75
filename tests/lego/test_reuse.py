"""The LegoNN claim on the committed toy fixture: a decoder brick trained for De->En works, with no
fine-tuning, behind a Ro->En encoder brick that was trained alone (CTC on the same English interface)."""

from pathlib import Path

import pytest
import sacrebleu

from legokit.data.datadir import read_kaldi_map
from legokit.data.tokenizer import train_tokenizer
from legokit.decode.runner import DecodeConfig, decode_dir
from legokit.errors import LegokitError
from legokit.experiment import train
from legokit.lego.bricks import check_chain, compose, load_brick, save_model

FIXTURE = Path(__file__).parents[1] / "fixtures" / "lego"
VOCAB = {"en": 29, "de": 31, "ro": 28}  # word-level: every word of the toy grammar + 4 specials

ARCH = ["model.encoder.encoder.kind=transformer", "model.encoder.encoder.num_layers=2",
        "model.encoder.encoder.dim=64", "model.encoder.encoder.num_heads=4", "model.encoder.encoder.ffn_dim=128",
        "model.encoder.encoder.dropout=0.1", "model.encoder.length_rate=2.0", "model.encoder.olc_layers=1"]
DECODER = ["model.decoder.dim=64", "model.decoder.num_layers=2", "model.decoder.num_heads=4",
           "model.decoder.ffn_dim=128", "model.decoder.ingestor.num_layers=1", "model.decoder.ingestor.ffn_dim=128"]
TRAIN = ["optim.lr=3e-3", "optim.warmup_steps=30", "optim.clip_grad_norm=5.0", "data.max_tokens=700",
         "train.log_interval=50", "train.keep_best=2", "average_best=2"]


def _data(tmp: Path, src: str) -> list[str]:
    return [f"data.src_lang={src}", "data.tgt_lang=en", f"data.train_dir={FIXTURE / 'train'}",
            f"data.valid_dir={FIXTURE / 'valid'}", f"data.src_tokenizer={tmp / src}.model",
            f"data.tgt_tokenizer={tmp / 'en'}.model"]


def _bleu(hyp: Path) -> float:
    refs, hyps = read_kaldi_map(FIXTURE / "test" / "text.en"), read_kaldi_map(hyp)
    return sacrebleu.corpus_bleu([hyps[k] for k in refs], [[refs[k] for k in refs]]).score


@pytest.mark.slow
def test_decoder_reused_zero_shot_behind_another_encoder(tmp_path):
    for lang, size in VOCAB.items():
        train_tokenizer([str(FIXTURE / "train" / f"text.{lang}")], str(tmp_path / lang), size,
                        model_type="word", kaldi_text=True)
    # 1. De-En LegoNN: encoder + decoder bricks trained together (CE + CTC on the English interface)
    train(None, ARCH + DECODER + TRAIN + _data(tmp_path, "de") + ["train.max_epochs=30"], tmp_path / "de_en")
    # 2. Ro-En encoder brick trained ALONE: CTC on the same interface, never sees the De-En decoder
    train(None, ARCH + TRAIN + _data(tmp_path, "ro") + ["model.decoder=null", "train.max_epochs=30"],
          tmp_path / "ro_enc")
    # an untrained Ro encoder with the same interface: the chance level of the composition
    train(None, ARCH + TRAIN + _data(tmp_path, "ro") + ["model.decoder=null", "train.max_steps=1",
                                                         "train.max_epochs=1"], tmp_path / "ro_chance")

    decoder = load_brick(tmp_path / "de_en" / "bricks" / "decoder.brick")
    scores = {}
    for name in ("ro_enc", "ro_chance"):
        encoder = load_brick(tmp_path / name / "bricks" / "encoder.brick")
        compose([encoder, decoder])
        save_model([encoder, decoder], tmp_path / f"{name}.pt")
        decode_dir(tmp_path / f"{name}.pt", FIXTURE / "test", tmp_path / f"{name}.hyp", DecodeConfig(),
                   src_lang="ro")
        scores[name] = _bleu(tmp_path / f"{name}.hyp")
    decode_dir(tmp_path / "de_en" / "model.pt", FIXTURE / "test", tmp_path / "de.hyp", DecodeConfig(), src_lang="de")
    scores["de_en"] = _bleu(tmp_path / "de.hyp")
    print("BLEU on the toy test set:", scores)
    assert scores["de_en"] > 60
    assert scores["ro_enc"] > 50, scores                      # zero-shot works ...
    assert scores["ro_enc"] > scores["ro_chance"] + 40, scores  # ... far above chance


def test_compose_refuses_mismatched_interfaces(tmp_path):
    en = train_tokenizer([str(FIXTURE / "train" / "text.en")], str(tmp_path / "en"), 29, model_type="word",
                         kaldi_text=True)
    de = train_tokenizer([str(FIXTURE / "train" / "text.de")], str(tmp_path / "de"), 31, model_type="word",
                         kaldi_text=True)
    common = ARCH + ["model.decoder=null", "train.max_steps=1", "train.max_epochs=1", "data.max_tokens=700"]
    data = ["data.src_lang=ro", f"data.train_dir={FIXTURE / 'train'}", f"data.valid_dir={FIXTURE / 'valid'}"]
    train_tokenizer([str(FIXTURE / "train" / "text.ro")], str(tmp_path / "ro"), 28, model_type="word",
                    kaldi_text=True)
    data.append(f"data.src_tokenizer={tmp_path / 'ro'}.model")
    train(None, common + data + ["data.tgt_lang=en", f"data.tgt_tokenizer={en}"], tmp_path / "a")
    train(None, ARCH + DECODER + ["train.max_steps=1", "train.max_epochs=1", "data.max_tokens=700"] + data
          + ["data.tgt_lang=de", f"data.tgt_tokenizer={de}"], tmp_path / "b")
    enc = load_brick(tmp_path / "a" / "bricks" / "encoder.brick")
    dec = load_brick(tmp_path / "b" / "bricks" / "decoder.brick")
    with pytest.raises(LegokitError, match="interface mismatch") as err:
        check_chain([enc, dec])
    assert enc.manifest["output_interface"]["signature"] in str(err.value)
    assert dec.manifest["input_interface"]["signature"] in str(err.value)

"""The LegoNN claim on the committed toy fixture: a decoder brick trained for De->En works, with no
fine-tuning, behind a Ro->En encoder brick that was trained alone (CTC on the same English interface)."""


import pytest
from helpers.toy_lego import ARCH, DECODER, FIXTURE, TRAIN, VOCAB, bleu, data_args

from legokit.data.tokenizer import train_tokenizer
from legokit.errors import LegokitError
from legokit.lego.bricks import check_chain, compose, save_model
from legokit.lego.loading import load_brick
from legokit.workflows.decode import DecodeConfig, decode_dir
from legokit.workflows.experiment import train


@pytest.mark.slow
def test_decoder_reused_zero_shot_behind_another_encoder(tmp_path):
    for lang, size in VOCAB.items():
        train_tokenizer([str(FIXTURE / "train" / f"text.{lang}")], str(tmp_path / lang), size,
                        model_type="word", kaldi_text=True)
    # 1. De-En LegoNN: encoder + decoder bricks trained together (CE + CTC on the English interface)
    train(None, ARCH + DECODER + TRAIN + data_args(tmp_path, "de") + ["train.max_epochs=30"], tmp_path / "de_en")
    # 2. Ro-En encoder brick trained ALONE: CTC on the same interface, never sees the De-En decoder
    train(None, ARCH + TRAIN + data_args(tmp_path, "ro") + ["model.decoder=null", "train.max_epochs=30"],
          tmp_path / "ro_enc")
    # an untrained Ro encoder with the same interface: the chance level of the composition
    train(None, ARCH + TRAIN + data_args(tmp_path, "ro") + ["model.decoder=null", "train.max_steps=1",
                                                         "train.max_epochs=1"], tmp_path / "ro_chance")

    decoder = load_brick(tmp_path / "de_en" / "bricks" / "decoder.brick")
    scores = {}
    for name in ("ro_enc", "ro_chance"):
        encoder = load_brick(tmp_path / name / "bricks" / "encoder.brick")
        compose([encoder, decoder])
        save_model([encoder, decoder], tmp_path / f"{name}.pt")
        decode_dir(tmp_path / f"{name}.pt", FIXTURE / "test", tmp_path / f"{name}.hyp", DecodeConfig(),
                   src_lang="ro")
        scores[name] = bleu(tmp_path / f"{name}.hyp")
    decode_dir(tmp_path / "de_en" / "model.pt", FIXTURE / "test", tmp_path / "de.hyp", DecodeConfig(), src_lang="de")
    scores["de_en"] = bleu(tmp_path / "de.hyp")
    # the same model decoded in bfloat16 (weights and activations; beam scores stay float32)
    decode_dir(tmp_path / "de_en" / "model.pt", FIXTURE / "test", tmp_path / "de_bf16.hyp",
               DecodeConfig(dtype="bfloat16"), src_lang="de")
    scores["de_en_bf16"] = bleu(tmp_path / "de_bf16.hyp")
    print("BLEU on the toy test set:", scores)
    assert scores["de_en"] > 60
    assert abs(scores["de_en_bf16"] - scores["de_en"]) < 5, scores
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


def test_decode_config_rejects_an_unknown_dtype():
    with pytest.raises(LegokitError, match="DecodeConfig.dtype must be one of float32, bfloat16, float16; got 'fp8'"):
        DecodeConfig(dtype="fp8")


def test_auto_length_rate_matches_the_decoders_interface_lengths():
    """r = rho_d * tau_e from the bricks' length statistics, with a decoder's statistics as training records
    them (no target lengths: its output lengths are the targets + 1); until 2026-12-07 that made "auto" keep
    the encoder's rate whatever the statistics."""
    from legokit.lego.bricks import Brick, choose_length_rate
    from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
    from legokit.nn.config import EncoderConfig

    module = EncoderBrick(EncoderBrickConfig(length_rate=2.0, encoder=EncoderConfig(num_layers=1, dim=16,
                                                                                   num_heads=2, ffn_dim=32)), 10, 10)
    encoder = Brick(module, {"kind": "encoder", "length_stats": {"input_mean": 30.0, "output_mean": 60.0,
                                                                 "target_mean": 24.0}})
    decoder = Brick(module, {"kind": "decoder", "length_stats": {"input_mean": 50.0, "output_mean": 25.0,
                                                                 "target_mean": 0.0}})
    assert choose_length_rate(encoder, decoder) == pytest.approx(50 / 25 * 24 / 30)
    assert choose_length_rate(Brick(module, {"kind": "encoder", "length_stats": {}}), decoder) is None
    module.cfg.length_rate = None  # no OLC: nothing to choose
    assert choose_length_rate(encoder, decoder) is None

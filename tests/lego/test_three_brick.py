"""A three-brick chain: encoder brick A (De -> English interface, CTC only), then a modality-agnostic
brick B (English interface -> English interface) trained on top of the frozen A with a decoder; the
exported model holds A, B and the decoder, and decodes."""


import pytest
import torch
from helpers.toy_lego import ARCH, DECODER, FIXTURE, TRAIN, bleu, data_args

from legokit.data.tokenizer import train_tokenizer
from legokit.errors import LegokitError
from legokit.lego.loading import load_brick, load_bricks
from legokit.workflows.decode import DecodeConfig, decode_dir
from legokit.workflows.experiment import train

MIDDLE = ["model.encoder.input=interface", "model.encoder.encoder.kind=transformer",
          "model.encoder.encoder.num_layers=1", "model.encoder.encoder.dim=64", "model.encoder.encoder.num_heads=4",
          "model.encoder.encoder.ffn_dim=128", "model.encoder.length_rate=1.0", "model.encoder.olc_layers=1",
          "model.encoder.ingestor.num_layers=1", "model.encoder.ingestor.ffn_dim=128"]


@pytest.mark.slow
def test_three_brick_chain_trains_on_frozen_upstream_and_decodes(tmp_path):
    for lang, size in (("en", 29), ("de", 31)):
        train_tokenizer([str(FIXTURE / "train" / f"text.{lang}")], str(tmp_path / lang), size,
                        model_type="word", kaldi_text=True)
    data = data_args(tmp_path, "de")
    train(None, ARCH + TRAIN + data + ["model.decoder=null", "train.max_epochs=20"], tmp_path / "a")
    brick_a = tmp_path / "a" / "bricks" / "encoder.brick"
    before = {k: v.clone() for k, v in load_brick(brick_a).module.state_dict().items()}
    train(None, MIDDLE + DECODER + TRAIN + data + [f"model.upstream=[{brick_a}]", "train.max_epochs=20"],
          tmp_path / "b")
    chain = load_bricks(tmp_path / "b" / "model.pt")
    assert [b.kind for b in chain] == ["encoder", "encoder", "decoder"]
    for key, value in chain[0].module.state_dict().items():  # the frozen upstream brick is unchanged
        assert torch.equal(value, before[key]), key
    middle = load_brick(tmp_path / "b" / "bricks" / "encoder.brick")
    assert middle.manifest["input_interface"]["signature"] == chain[0].manifest["output_interface"]["signature"]
    decode_dir(tmp_path / "b" / "model.pt", FIXTURE / "test", tmp_path / "hyp", DecodeConfig(), src_lang="de")
    assert bleu(tmp_path / "hyp") > 50


def test_upstream_requires_an_interface_encoder(tmp_path):
    train_tokenizer([str(FIXTURE / "train" / "text.en")], str(tmp_path / "en"), 29, model_type="word",
                    kaldi_text=True)
    train_tokenizer([str(FIXTURE / "train" / "text.de")], str(tmp_path / "de"), 31, model_type="word",
                    kaldi_text=True)
    data = data_args(tmp_path, "de")
    train(None, ARCH + data + ["model.decoder=null", "train.max_steps=1", "train.max_epochs=1"], tmp_path / "a")
    with pytest.raises(LegokitError, match="model.encoder.input must be 'interface'"):
        train(None, ARCH + data + [f"model.upstream=[{tmp_path / 'a' / 'bricks' / 'encoder.brick'}]",
                                   "train.max_steps=1"], tmp_path / "b")


def test_interface_brick_reads_token_ids_as_one_hot_marginals():
    import torch

    from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
    from legokit.nn.config import EncoderConfig

    cfg = EncoderBrickConfig(input="interface", encoder=EncoderConfig(kind="transformer", num_layers=1, dim=16,
                                                                     num_heads=2, ffn_dim=32, dropout=0.0))
    cfg.ingestor.num_layers, cfg.ingestor.dropout = 0, 0.0
    brick = EncoderBrick(cfg, input_vocab_size=9, output_vocab_size=7).eval()
    tokens, lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
    from_ids = brick(tokens, lengths)
    from_probs = brick(torch.nn.functional.one_hot(tokens, 9).float(), lengths)
    torch.testing.assert_close(from_ids.logits, from_probs.logits)
    assert from_ids.logits.shape == (2, 3, 7)

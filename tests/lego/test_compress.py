"""Compressed bricks: int8 rounding equals torch's dynamic quantisation, QAT simulates the int8 kernels,
pruning hits its sparsity with the smallest weights, and compressed bricks round-trip through plain-data
files (weights_only), keep their interfaces, compose and decode."""

import argparse
import ast
import copy
import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

from legokit.commands.brick_compress import add_compress_parser, run_compress
from legokit.data.tokenizer import Tokenizer, train_tokenizer
from legokit.decode.beam_search import BeamSearchConfig
from legokit.errors import LegokitError
from legokit.lego import bricks as bricks_mod
from legokit.lego.bricks import (
    Brick,
    compose,
    decoder_interfaces,
    encoder_interfaces,
    make_manifest,
    save_brick,
    save_model,
)
from legokit.lego.codec import pack_bits, unpack_bits
from legokit.lego.decoders import DecoderBrick, DecoderBrickConfig
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.ingestors import IngestorConfig
from legokit.lego.loading import load_brick, load_bricks
from legokit.lego.model import LegoModel
from legokit.nn.config import EncoderConfig
from legokit.nn.quantize import compressible_linears, fake_quant_weight, fake_quantized, prune_linears, quantize_int8
from legokit.workflows.compress import ChainData, CompressConfig, compress_brick, qat_finetune

FIXTURE = Path(__file__).parents[1] / "fixtures" / "lego"


# --- tiny bricks --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory) -> dict[str, Tokenizer]:
    tmp = tmp_path_factory.mktemp("spm")
    return {lang: Tokenizer.load(train_tokenizer([str(FIXTURE / "train" / f"text.{lang}")], str(tmp / lang), size,
                                                 model_type="word", kaldi_text=True))
            for lang, size in (("en", 29), ("de", 31))}


def make_bricks(tokenizers: dict[str, Tokenizer]) -> tuple[Brick, Brick]:
    """An untrained De->En encoder brick (text, OLC, CTC head) and decoder brick (WEmb, tied output)."""
    de, en = tokenizers["de"], tokenizers["en"]
    torch.manual_seed(0)
    enc = EncoderBrick(EncoderBrickConfig(input="text", encoder=EncoderConfig(kind="transformer", num_layers=1, dim=32,
                                                                              num_heads=2, ffn_dim=64, dropout=0.0),
                                          length_rate=2.0, olc_layers=1), de.vocab_size, en.vocab_size)
    inp, out = encoder_interfaces(enc, de, en)
    arch = {"input_vocab_size": de.vocab_size, "output_vocab_size": en.vocab_size}
    encoder = Brick(enc, make_manifest("encoder", enc, arch, inp, out), {"input": de, "output": en})
    dec = DecoderBrick(DecoderBrickConfig(ingestor=IngestorConfig(num_layers=1, num_heads=2, ffn_dim=64, dropout=0.0),
                                          dim=32, num_layers=1, num_heads=2, ffn_dim=64, dropout=0.0),
                       en.vocab_size, en.vocab_size)
    inp, out = decoder_interfaces(dec, en, en)
    arch = {"input_vocab_size": en.vocab_size, "output_vocab_size": en.vocab_size}
    decoder = Brick(dec, make_manifest("decoder", dec, arch, inp, out), {"input": en, "output": en})
    return encoder, decoder


@pytest.fixture()
def pair(tokenizers) -> tuple[Brick, Brick]:
    return make_bricks(tokenizers)


def _batch(tokenizers) -> dict:
    src = [tokenizers["de"].encode("der hund sieht einen roten ball ."), tokenizers["de"].encode("die katze hat")]
    tgt = [tokenizers["en"].encode("the dog sees a red ball ."), tokenizers["en"].encode("the cat has")]

    def pad(rows):
        return torch.nn.utils.rnn.pad_sequence([torch.tensor(r) for r in rows], batch_first=True)

    return {"ids": ["a", "b"], "source": pad(src), "source_lengths": torch.tensor([len(s) for s in src]),
            "target": pad(tgt), "target_lengths": torch.tensor([len(t) for t in tgt])}


def _data_dir(tmp_path: Path, n: int = 6) -> Path:
    """The first n test sentences of the toy fixture (de, en)."""
    out = tmp_path / "data"
    out.mkdir()
    for lang in ("de", "en"):
        lines = (FIXTURE / "test" / f"text.{lang}").read_text().splitlines()[:n]
        (out / f"text.{lang}").write_text("\n".join(lines) + "\n")
    return out


# --- int8 rounding and QAT ----------------------------------------------------------------------------
def test_fake_quant_weight_equals_torch_dynamic_int8_weights():
    """The plan for torch's int8 API: legokit rounds weights itself (no torch.ao.quantization, deprecated) and
    keeps only the dynamic int8 Linear kernel. This fails when torch drops quantize_dynamic (then delete the
    comparison) or the kernel (then move int8_linear to torchao or a hand-written int8 matmul)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    reference, ours = nn.Sequential(nn.Linear(16, 8)), nn.Sequential(nn.Linear(16, 8))
    ours.load_state_dict(reference.state_dict())
    simulated = fake_quant_weight(ours[0].weight)
    with pytest.warns(DeprecationWarning):
        quantize_dynamic(reference, {"0": per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    quantize_int8(ours, ["0"])
    assert type(ours[0]) is DynamicInt8Linear
    assert torch.equal(ours[0].weight().int_repr(), reference[0].weight().int_repr())
    assert torch.equal(ours[0].weight().q_per_channel_scales(), reference[0].weight().q_per_channel_scales())
    torch.testing.assert_close(simulated, ours[0].weight().dequantize(), rtol=0, atol=1e-7)
    # per-channel symmetric: every row's largest magnitude maps to ±127.5 -> 127 or -128
    assert ours[0].weight().int_repr().int().abs().amax(1).min() >= 127


def test_legokit_does_not_use_the_deprecated_torch_ao_quantization_api():
    package = Path(__file__).parents[2] / "legokit"
    users = [str(path.relative_to(package)) for path in package.rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch.ao.quantization")]
    assert not users


def test_fake_quant_is_straight_through():
    weight = torch.randn(4, 6, requires_grad=True)
    fake_quant_weight(weight).mul(torch.arange(6.0)).sum().backward()
    torch.testing.assert_close(weight.grad, torch.arange(6.0).expand(4, 6))


def test_fake_quantized_linear_simulates_the_int8_kernel():
    layer = nn.Linear(64, 32)
    x = torch.randn(20, 64) * 3 + 1
    net = nn.Sequential(copy.deepcopy(layer))
    quantize_int8(net, ["0"])
    int8 = net(x)
    fp32 = layer(x)
    with fake_quantized(nn.Sequential(layer), ["0"]):
        simulated = layer(x)
        assert type(layer.parametrizations.weight[0]).__name__ == "_FakeQuantWeight"
    assert not hasattr(layer, "parametrizations") and torch.equal(layer(x), fp32)  # removed, weights untouched
    # the simulation is far closer to the int8 kernel than fp32 is (both weights and 7-bit inputs rounded)
    assert (simulated - int8).abs().max() < 0.2 * (fp32 - int8).abs().max()


def test_qat_lowers_the_interface_loss_and_converts_to_what_it_simulated(pair, tokenizers, tmp_path):
    encoder, _ = pair
    model = LegoModel([encoder.module], vocabularies=[encoder.vocabulary])
    batch = _batch(tokenizers)
    losses = qat_finetune(model, encoder.module, lambda epoch: [batch], steps=20, lr=3e-3, out_dir=tmp_path)
    assert losses[-1] < 0.8 * losses[0]
    assert encoder.module.length_stats.summary() == {}  # QAT data does not enter the brick's statistics
    names = list(compressible_linears(encoder.module))
    with torch.no_grad(), fake_quantized(encoder.module, names):
        simulated = encoder.module(batch["source"], batch["source_lengths"]).logits
    compressed = compress_brick(encoder, CompressConfig(method="int8-dynamic"))
    with torch.no_grad():
        int8 = compressed.module(batch["source"], batch["source_lengths"]).logits
        fp32 = encoder.module(batch["source"], batch["source_lengths"]).logits
    assert (int8 - simulated).abs().max() < 0.5 * (int8 - fp32).abs().max()


# --- pruning ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_reaches_the_sparsity_with_the_smallest_weights(scope):
    net = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    net[2].weight.data *= 10  # global pruning must then take mostly from the first layer
    before = [m.weight.detach().clone() for m in (net[0], net[2])]
    achieved = prune_linears(net, ["0", "2"], 0.5, scope)
    assert achieved == pytest.approx(0.5, abs=1 / 300)
    weights = [net[0].weight, net[2].weight]
    assert all(type(m.weight) is nn.Parameter and not hasattr(m, "weight_orig") for m in (net[0], net[2]))
    if scope == "layer":
        assert all((w == 0).float().mean() == pytest.approx(0.5, abs=0.01) for w in weights)
        groups = [(b.abs(), w != 0) for b, w in zip(before, weights)]
    else:
        assert (weights[0] == 0).float().mean() > (weights[1] == 0).float().mean()
        groups = [(torch.cat([b.abs().flatten() for b in before]), torch.cat([(w != 0).flatten() for w in weights]))]
    for magnitude, kept in groups:
        assert magnitude[~kept].max() <= magnitude[kept].min()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.booleans(), min_size=0, max_size=40))
def test_bit_packing_round_trips(bits):
    mask = torch.tensor(bits, dtype=torch.bool)
    packed = pack_bits(mask)
    assert packed.dtype == torch.uint8 and packed.numel() == (len(bits) + 7) // 8
    assert torch.equal(unpack_bits(packed, len(bits)), mask)


def test_bit_packing_is_msb_first():
    assert pack_bits(torch.tensor([1, 0, 0, 0, 0, 0, 0, 1, 1], dtype=torch.bool)).tolist() == [129, 128]


# --- whole bricks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["int8-dynamic", "prune"])
def test_compressed_bricks_round_trip_and_keep_their_interfaces(pair, tokenizers, method, tmp_path):
    encoder, decoder = pair
    batch = _batch(tokenizers)
    for brick in (encoder, decoder):
        compressed = compress_brick(brick, CompressConfig(method=method, sparsity=0.4))
        save_brick(compressed, tmp_path / f"{brick.kind}.brick")
        torch.load(tmp_path / f"{brick.kind}.brick", weights_only=True)  # plain data only
        loaded = load_brick(tmp_path / f"{brick.kind}.brick")
        for key in ("input_interface", "output_interface"):
            assert loaded.manifest[key] == brick.manifest[key]
        record = loaded.manifest["compression"]
        assert record["method"] == method and record["size_bytes"]["after"] < record["size_bytes"]["before"]
        size = (tmp_path / f"{brick.kind}.brick").stat().st_size
        assert size == pytest.approx(record["size_bytes"]["after"], rel=0.01)
        int8 = [n for n, m in loaded.module.named_modules() if isinstance(m, DynamicInt8Linear)]
        assert sorted(int8) == (sorted(record["layers"]) if method == "int8-dynamic" else [])
        if brick.kind == "decoder":  # the tied output projection stays fp32 and tied
            assert "output" not in record["layers"] and loaded.module.output.weight is loaded.module.embed.weight
    # the loaded chain computes exactly what the in-memory compressed chain computes
    chain = [compress_brick(b, CompressConfig(method=method, sparsity=0.4)) for b in (encoder, decoder)]
    save_model(chain, tmp_path / "model.pt")
    loaded = compose(load_bricks(tmp_path / "model.pt"), length_rate=None).eval()
    memory = compose(chain, length_rate=None).eval()
    full = compose([encoder, decoder], length_rate=None).eval()
    with torch.no_grad():
        out_loaded, out_memory, out_full = (m(batch)["loss"] for m in (loaded, memory, full))
    assert torch.equal(out_loaded, out_memory)
    assert out_loaded == pytest.approx(float(out_full), rel=0.25)  # compressed, not broken
    assert loaded.recognize(batch, BeamSearchConfig(beam_size=2))  # decodes


def test_pruned_brick_stores_only_the_kept_weights(pair, tmp_path):
    encoder, _ = pair
    compressed = compress_brick(encoder, CompressConfig(method="prune", sparsity=0.75, prune_scope="layer"))
    payload = bricks_mod.brick_payload(compressed)
    name = next(iter(compressed.manifest["compression"]["layers"]))
    weight = compressed.module.get_submodule(name).weight
    assert f"{name}.weight" not in payload["state_dict"]
    assert payload["state_dict"][f"{name}.weight_values"].numel() == int((weight != 0).sum())
    assert compressed.manifest["compression"]["sparsity"] == pytest.approx(0.75, abs=0.01)


def test_compressing_twice_and_qat_without_data_are_refused(pair):
    encoder, decoder = pair
    compressed = compress_brick(encoder, CompressConfig())
    with pytest.raises(LegokitError, match="already compressed"):
        compress_brick(compressed, CompressConfig())
    with pytest.raises(LegokitError, match="--qat-data"):
        compress_brick(encoder, CompressConfig(method="int8-qat"))
    with pytest.raises(LegokitError, match="--upstream"):
        compress_brick(decoder, CompressConfig(method="int8-qat"), qat_data=ChainData("unused"))
    with pytest.raises(LegokitError, match="--sparsity"):
        CompressConfig(method="prune", sparsity=1.5)
    with pytest.raises(LegokitError, match="--method"):
        CompressConfig(method="int4")


def test_qat_of_a_decoder_leaves_its_upstream_brick_trainable(pair, tmp_path):
    """QAT freezes a copy of the upstream encoder: the caller can still fine-tune (e.g. QAT) the encoder."""
    encoder, decoder = pair
    encoder.module.train()
    before = {k: v.clone() for k, v in encoder.module.state_dict().items()}
    data = ChainData(str(_data_dir(tmp_path)), max_tokens=200)
    compress_brick(decoder, CompressConfig(method="int8-qat", qat_steps=2), [encoder], data)
    assert all(p.requires_grad for p in encoder.module.parameters()) and encoder.module.training
    assert all(torch.equal(v, encoder.module.state_dict()[k]) for k, v in before.items())
    compress_brick(encoder, CompressConfig(method="int8-qat", qat_steps=2), qat_data=data)



def test_qat_runs_through_the_trainer_reproducibly_and_resumes(pair, tmp_path):
    encoder, _ = pair
    data = _data_dir(tmp_path)
    runs = [compress_brick(encoder, CompressConfig(method="int8-qat", qat_steps=3, qat_dir=str(tmp_path / d)),
                           qat_data=ChainData(str(data), max_tokens=40)) for d in ("a", "b")]
    assert {"train.log", "metrics.jsonl", "checkpoints"} <= {p.name for p in (tmp_path / "a").iterdir()}
    first, second = (bricks_mod.brick_payload(r)["state_dict"] for r in runs)
    assert all(torch.equal(first[k], second[k]) for k in first)  # same seed, same brick
    assert runs[0].manifest["compression"]["qat"] == runs[1].manifest["compression"]["qat"]
    # a finished run in the same --qat-dir resumes from its last checkpoint: no update is repeated
    again = compress_brick(encoder, CompressConfig(method="int8-qat", qat_steps=3, qat_dir=str(tmp_path / "a")),
                           qat_data=ChainData(str(data), max_tokens=40))
    assert all(torch.equal(v, bricks_mod.brick_payload(again)["state_dict"][k]) for k, v in first.items())
    assert "from step 3" in (tmp_path / "a" / "train.log").read_text()


def _rewrite(payload: dict, path: Path, manifest: dict | None = None, drop: str | None = None) -> None:
    """Write a payload with an edited manifest / a dropped tensor and a valid checksum."""
    if manifest is not None:
        payload["manifest"] = json.dumps(manifest, sort_keys=True)
    if drop is not None:
        del payload["state_dict"][drop]
    payload["sha256"] = bricks_mod._checksum(payload["manifest"], payload["state_dict"], payload["tokenizers"])
    torch.save(payload, path)


def test_incomplete_compressed_files_name_what_is_missing(pair, tmp_path):
    encoder, _ = pair
    compressed = compress_brick(encoder, CompressConfig())
    name = next(iter(compressed.manifest["compression"]["layers"]))
    _rewrite(bricks_mod.brick_payload(compressed), tmp_path / "a.brick", drop=f"{name}.weight_scale")
    with pytest.raises(LegokitError, match=rf"a.brick: compressed brick lacks '{name}.weight_scale'"):
        load_brick(tmp_path / "a.brick")
    manifest = json.loads(json.dumps(compressed.manifest))
    manifest["compression"]["layers"]["frontend"] = "int8"  # an Embedding, not a Linear
    _rewrite(bricks_mod.brick_payload(compressed), tmp_path / "b.brick", manifest=manifest)
    with pytest.raises(LegokitError, match=r"b.brick: manifest compression.layers\['frontend'\]"):
        load_brick(tmp_path / "b.brick")


def test_cli_qat_of_a_decoder_records_sizes_and_scores(pair, tmp_path, capsys):
    encoder, decoder = pair
    save_brick(encoder, tmp_path / "encoder.brick")
    save_brick(decoder, tmp_path / "decoder.brick")
    data = _data_dir(tmp_path)
    parser = argparse.ArgumentParser()
    add_compress_parser(parser.add_subparsers())
    args = parser.parse_args(["compress", str(tmp_path / "decoder.brick"), "-o", str(tmp_path / "qat.brick"),
                              "--method", "int8-qat", "--upstream", str(tmp_path / "encoder.brick"),
                              "--qat-data", str(data), "--qat-steps", "3", "--eval-data", str(data),
                              "--beam-size", "1"])
    assert run_compress(args) == 0
    record = load_brick(tmp_path / "qat.brick").manifest["compression"]
    assert record["method"] == "int8-qat" and record["qat"]["steps"] == 3 and record["qat"]["loss"] == "ce"
    assert set(record["scores"]["before"]) == {"bleu", "utterances_per_s", "ms_per_token"}
    assert 0 <= record["scores"]["after"]["bleu"] <= 100
    assert '"method": "int8-qat"' in capsys.readouterr().out

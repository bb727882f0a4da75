"""Intermediate CTC and self-conditioned CTC in encoder bricks (interctc_layers, interctc_conditioning) and the
chain loss (loss.interctc_weight): the loss formula, gradients, packed inference, bricks on disk, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from legokit.config import from_dict, load_config
from legokit.data.datadir import read_kaldi_map
from legokit.data.featdump import dump_features
from legokit.data.features import FbankConfig
from legokit.data.tokenizer import Tokenizer, train_tokenizer
from legokit.data.vocab import VocabularyInfo
from legokit.errors import LegokitError
from legokit.lego.bricks import Brick, encoder_interfaces, make_manifest, save_brick
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.loading import load_brick
from legokit.lego.model import ChainLossConfig, LegoModel
from legokit.nn.config import EncoderConfig
from legokit.nn.masks import padding_mask
from legokit.workflows.decode import DecodeConfig, decode_dir
from legokit.workflows.experiment import ExperimentConfig, _load_into, train

VOCAB = 12  # blank 0, tokens 4..11
FEAT = 20


def _vocab() -> VocabularyInfo:
    return VocabularyInfo(blank=0, pad=0, bos=2, eos=3, unk=1, size=VOCAB)


def _cfg(layers: list[int] | None = None, conditioning: bool = False, kind: str = "conformer",
         pos_enc: str = "abs", num_layers: int = 3, dropout: float = 0.0) -> EncoderBrickConfig:
    encoder = EncoderConfig(kind=kind, num_layers=num_layers, dim=16, num_heads=2, ffn_dim=32, kernel_size=5,
                            dropout=dropout, pos_enc=pos_enc, conv_norm="layer")
    return EncoderBrickConfig(input="speech", feat_dim=FEAT, encoder=encoder, interctc_layers=list(layers or []),
                              interctc_conditioning=conditioning)


def _brick(cfg: EncoderBrickConfig, seed: int = 0) -> EncoderBrick:
    torch.manual_seed(seed)
    return EncoderBrick(cfg, 0, VOCAB)


def _batch(seed: int = 1) -> dict[str, torch.Tensor]:
    """Three utterances of 48, 36, 20 frames (12, 9, 5 after 4x subsampling) with 3, 2, 1 target tokens."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([48, 36, 20])
    speech = torch.randn(3, 48, FEAT, generator=g)
    target = torch.randint(4, VOCAB, (3, 3), generator=g)
    target_lengths = torch.tensor([3, 2, 1])
    return {"speech": speech, "speech_lengths": lengths, "target": target, "target_lengths": target_lengths}


def _hand_ctc(logits: torch.Tensor, lengths: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Summed CTC of (B, K, |V|) logits, straight from F.ctc_loss."""
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)
    return F.ctc_loss(log_probs, batch["target"], lengths, batch["target_lengths"], blank=0, reduction="sum",
                      zero_infinity=True)


def test_default_off_is_bit_identical_and_adds_no_parameters() -> None:
    plain, listed = _brick(_cfg()), _brick(_cfg([1, 2]))
    assert plain.interctc_condition is None and listed.interctc_condition is None
    assert plain.state_dict().keys() == listed.state_dict().keys()
    listed.load_state_dict(plain.state_dict())
    batch = _batch()
    for training in (True, False):
        plain.train(training)
        listed.train(training)
        out, with_inter = (b(batch["speech"], batch["speech_lengths"]) for b in (plain, listed))
        # the computation of the brick before intermediate CTC existed: frontend -> encoder -> CTC head
        x, lengths = plain._frontend(batch["speech"], batch["speech_lengths"])
        by_hand = plain.ctc(plain.encoder(x, padding_mask(lengths, x.size(1))))
        assert out.inter_logits == []
        assert torch.equal(out.logits, by_hand)
        assert torch.equal(with_inter.logits, out.logits)  # without conditioning, listing layers only adds outputs
        assert len(with_inter.inter_logits) == 2 and with_inter.inter_logits[0].shape == out.logits.shape
    # loss.interctc_weight = 0 (the default): exactly the loss of before, even with interctc layers listed
    plain.train()
    listed.train()
    losses = [LegoModel([b], vocabularies=[_vocab()])(batch)["loss"] for b in (plain, listed)]
    assert torch.equal(losses[0], losses[1])


@pytest.mark.parametrize("kind", ["conformer", "transformer"])
def test_loss_is_the_weighted_mean_of_final_and_intermediate_ctc(kind: str) -> None:
    weight = 0.3
    brick = _brick(_cfg([1, 2], kind=kind))
    with torch.no_grad():  # a final LayerNorm that is not the identity on normed states (Conformer layers end normed)
        brick.encoder.norm.weight.uniform_(0.5, 1.5)
        brick.encoder.norm.bias.uniform_(-0.5, 0.5)
    model = LegoModel([brick], loss=ChainLossConfig(interctc_weight=weight), vocabularies=[_vocab()]).train()
    batch = _batch()
    stats = model(batch)
    # by hand: run the layers one by one; the intermediate logits are the CTC head on the final LayerNorm
    x, lengths = brick._frontend(batch["speech"], batch["speech_lengths"])
    mask = padding_mask(lengths, x.size(1))
    inter = []
    for layer in brick.encoder.layers:
        x = layer(x, mask)
        inter.append(_hand_ctc(brick.ctc(brick.encoder.norm(x)), lengths, batch))
    final = _hand_ctc(brick.ctc(brick.encoder.norm(x)), lengths, batch)
    mean_inter = (inter[0] + inter[1]) / 2  # layers 1 and 2 of 3
    torch.testing.assert_close(stats["ctc"], final)
    torch.testing.assert_close(stats["interctc"], mean_inter)
    torch.testing.assert_close(stats["loss"], (1 - weight) * final + weight * mean_inter)
    assert not torch.isclose(mean_inter, final)  # the two terms differ: the formula is really tested


def test_chain_logs_interctc_per_brick() -> None:
    """Two bricks: the stats keys carry the brick index, as ctc{i}."""
    speech = _brick(_cfg([1]))
    torch.manual_seed(1)
    second = EncoderBrick(EncoderBrickConfig(input="interface", encoder=EncoderConfig(
        kind="transformer", num_layers=2, dim=16, num_heads=2, ffn_dim=32, dropout=0.0), interctc_layers=[1]),
        VOCAB, VOCAB)
    model = LegoModel([speech, second], loss=ChainLossConfig(interctc_weight=0.5), vocabularies=[_vocab()] * 2)
    stats = model(_batch())
    assert {"ctc0", "ctc1", "interctc0", "interctc1"} <= stats.keys() and "interctc" not in stats


def test_intermediate_gradient_reaches_the_layers_below_only() -> None:
    brick = _brick(_cfg([2])).train()
    batch = _batch()
    out = brick(batch["speech"], batch["speech_lengths"])
    _hand_ctc(out.inter_logits[0], out.lengths, batch).backward()

    def grad_norm(module: torch.nn.Module) -> float:
        return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)

    assert grad_norm(brick.encoder.layers[0]) > 0 and grad_norm(brick.encoder.layers[1]) > 0
    assert grad_norm(brick.frontend) > 0 and grad_norm(brick.ctc) > 0  # the shared head learns from it too
    assert grad_norm(brick.encoder.layers[2]) == 0  # the layer above the intermediate one takes no part


def test_conditioning_gradient_and_weight_through_the_model() -> None:
    """With conditioning the final CTC also trains the conditioning Linear; interctc_weight changes the
    gradient of the first layer."""
    grads = []
    for weight in (0.0, 0.5):
        brick = _brick(_cfg([1], conditioning=True))
        model = LegoModel([brick], loss=ChainLossConfig(interctc_weight=weight), vocabularies=[_vocab()]).train()
        model(_batch())["loss"].backward()
        assert brick.interctc_condition.weight.grad.abs().sum() > 0
        grads.append(brick.encoder.layers[0].ffn1[0].weight.grad.clone())
    assert not torch.allclose(grads[0], grads[1])


@pytest.mark.parametrize("pos_enc", ["abs", "rel"])
def test_conditioning_packed_inference_equals_padded(pos_enc: str) -> None:
    brick = _brick(_cfg([1, 2], conditioning=True, pos_enc=pos_enc)).eval()
    batch = _batch()
    packed_calls = []
    packed = brick.encoder._forward_packed
    brick.encoder._forward_packed = lambda *args: packed_calls.append(1) or packed(*args)
    with torch.no_grad():
        fast = brick(batch["speech"], batch["speech_lengths"])
    assert packed_calls  # the packed path ran
    padded = brick(batch["speech"], batch["speech_lengths"])  # autograd on: the padded layout
    assert not packed_calls[1:]
    real = ~padding_mask(padded.lengths, padded.logits.size(1))
    torch.testing.assert_close(fast.logits[real], padded.logits[real], rtol=0, atol=1e-5)
    assert len(fast.inter_logits) == 2
    for a, b in zip(fast.inter_logits, padded.inter_logits, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a[real], b[real], rtol=0, atol=1e-5)
    # conditioning is part of the function at inference: without it the logits differ
    with torch.no_grad():
        brick.interctc_condition.weight.zero_()
        brick.interctc_condition.bias.zero_()
        unconditioned = brick(batch["speech"], batch["speech_lengths"])
    assert (unconditioned.logits[real] - fast.logits[real]).abs().max() > 1e-3


def _save(module: EncoderBrick, path: Path, tokenizer: Tokenizer, drop_keys: tuple[str, ...] = ()) -> None:
    inp, out = encoder_interfaces(module, None, tokenizer, {"kind": "fbank"})
    manifest = make_manifest("encoder", module, {"output_vocab_size": VOCAB}, inp, out)
    for key in drop_keys:  # a brick written before the key existed
        del manifest["arch"]["config"][key]
    save_brick(Brick(module, manifest, {"output": tokenizer}), path)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    out = tmp_path_factory.mktemp("tok")
    text = out / "text"
    text.write_text("".join(f"u{i} {w}\n" for i, w in enumerate("one two three four five six seven eight".split())))
    return Tokenizer.load(train_tokenizer([str(text)], str(out / "words"), VOCAB, model_type="word", kaldi_text=True))


def test_brick_with_conditioning_round_trips(tmp_path: Path, tokenizer: Tokenizer) -> None:
    brick = _brick(_cfg([1, 2], conditioning=True)).eval()
    assert "interctc_condition.weight" in brick.state_dict()
    _save(brick, tmp_path / "cond.brick", tokenizer)
    loaded = load_brick(tmp_path / "cond.brick").module.eval()
    assert loaded.cfg.interctc_layers == [1, 2] and loaded.cfg.interctc_conditioning
    batch = _batch()
    with torch.no_grad():
        a, b = brick(batch["speech"], batch["speech_lengths"]), loaded(batch["speech"], batch["speech_lengths"])
    assert torch.equal(a.logits, b.logits)
    assert all(torch.equal(x, y) for x, y in zip(a.inter_logits, b.inter_logits, strict=True))


def test_brick_saved_before_interctc_loads_with_it_off(tmp_path: Path, tokenizer: Tokenizer) -> None:
    brick = _brick(_cfg()).eval()
    _save(brick, tmp_path / "old.brick", tokenizer, drop_keys=("interctc_layers", "interctc_conditioning"))
    manifest = json.loads(torch.load(tmp_path / "old.brick", weights_only=True)["manifest"])
    assert "interctc_layers" not in manifest["arch"]["config"]
    loaded = load_brick(tmp_path / "old.brick").module.eval()
    assert loaded.cfg.interctc_layers == [] and not loaded.cfg.interctc_conditioning
    assert loaded.interctc_condition is None and loaded.state_dict().keys() == brick.state_dict().keys()
    batch = _batch()
    with torch.no_grad():
        a, b = brick(batch["speech"], batch["speech_lengths"]), loaded(batch["speech"], batch["speech_lengths"])
    assert torch.equal(a.logits, b.logits) and b.inter_logits == []


def test_init_encoder_adds_intermediate_ctc_to_a_pretrained_brick(tmp_path: Path, tokenizer: Tokenizer) -> None:
    """Intermediate CTC without conditioning is a loss only: a brick trained without it initialises an encoder
    with it. Conditioning adds a Linear: refused, unless the CTC side is left fresh (init_encoder_skip_ctc)."""
    pretrained = _brick(_cfg(), seed=3)
    _save(pretrained, tmp_path / "plain.brick", tokenizer)
    listed = _brick(_cfg([1]))
    _load_into(listed, str(tmp_path / "plain.brick"), "encoder")
    assert all(torch.equal(v, pretrained.state_dict()[k]) for k, v in listed.state_dict().items())
    with pytest.raises(LegokitError, match="interctc_conditioning is False in the brick, True in the config"):
        _load_into(_brick(_cfg([1], conditioning=True)), str(tmp_path / "plain.brick"), "encoder")
    conditioned = _brick(_cfg([1], conditioning=True))
    fresh = conditioned.interctc_condition.weight.clone()
    _load_into(conditioned, str(tmp_path / "plain.brick"), "encoder", skip_ctc=True)
    assert torch.equal(conditioned.encoder.norm.weight, pretrained.encoder.norm.weight)
    assert torch.equal(conditioned.interctc_condition.weight, fresh)


ASR_FIXTURE = Path(__file__).parents[1] / "fixtures" / "asr"
TINY_ASR = ["data.task=asr", "model.encoder.input=speech", "model.decoder=null", "model.encoder.length_rate=null",
            "model.encoder.encoder.kind=conformer", "model.encoder.encoder.num_layers=3",
            "model.encoder.encoder.dim=32", "model.encoder.encoder.num_heads=2", "model.encoder.encoder.ffn_dim=64",
            "model.encoder.encoder.kernel_size=5", "model.encoder.interctc_layers=[1, 2]",
            "model.encoder.interctc_conditioning=true", "loss.interctc_weight=0.5", "optim.lr=3e-3",
            "optim.warmup_steps=5", "train.log_interval=1000", "average_best=1", "train.max_epochs=20",
            "data.max_tokens=100000"]


@pytest.fixture(scope="module")
def asr_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A CTC-only speech run with conditioned intermediate CTC on the 8 committed utterances (~4 s on one
    thread): the experiment dir, the data dir and the feats.scp."""
    tmp = tmp_path_factory.mktemp("interctc_asr")
    data = tmp / "data"
    data.mkdir()
    for name in ("text", "utt2spk"):
        (data / name).write_text((ASR_FIXTURE / name).read_text())
    (data / "wav.scp").write_text("".join(f"{utt} {ASR_FIXTURE / path}\n"
                                          for utt, path in read_kaldi_map(ASR_FIXTURE / "wav.scp").items()))
    feats = dump_features(data, tmp / "dump", FbankConfig(), progress=False)
    words = {w for line in read_kaldi_map(data / "text").values() for w in line.split()}
    tok = train_tokenizer([str(data / "text")], str(tmp / "words"), len(words) + 4, model_type="word",
                          kaldi_text=True)
    train(None, TINY_ASR + [f"data.train_dir={data}", f"data.valid_dir={data}", f"data.train_feats={feats}",
                            f"data.valid_feats={feats}", f"data.tgt_tokenizer={tok}"], tmp / "exp")
    return tmp / "exp", data, feats


def test_tiny_ctc_training_with_interctc_learns(asr_run: tuple[Path, Path, Path]) -> None:
    exp, data, feats = asr_run
    valid = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in valid if r["event"] == "valid"]
    first, last = valid[0], valid[-1]
    assert last["loss"] < 0.6 * first["loss"] and last["interctc"] < 0.6 * first["interctc"], (first, last)
    assert last["loss"] == pytest.approx(0.5 * last["ctc"] + 0.5 * last["interctc"], rel=1e-5)
    # the exported brick carries the conditioning; the packed inference path decodes with it
    brick = load_brick(exp / "bricks" / "encoder.brick")
    assert brick.module.cfg.interctc_layers == [1, 2] and brick.module.interctc_condition is not None
    decode_dir(exp / "model.pt", data, exp / "hyp", DecodeConfig(), feats=feats)
    assert read_kaldi_map(exp / "hyp", allow_empty_value=True).keys() == read_kaldi_map(data / "text").keys()


@pytest.mark.slow
def test_conditioned_brick_exports_to_onnx(asr_run: tuple[Path, Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'legokit[export]')")
    pytest.importorskip("onnxscript", reason="torch.onnx.export needs onnxscript (pip install 'legokit[export]')")
    from legokit.lego.onnx import GreedyCTCEncoder, OnnxEncoder, export_encoder_onnx

    brick = load_brick(asr_run[0] / "bricks" / "encoder.brick")
    export_encoder_onnx(brick, tmp_path / "encoder.onnx")
    reference = GreedyCTCEncoder(brick.module, blank=brick.vocabulary.blank).eval()
    speech, lengths = torch.randn(3, 120, 80), torch.tensor([120, 90, 50])
    with torch.no_grad():
        log_probs, out_lengths, _, _ = reference(speech, lengths)
        brick.module.interctc_condition.weight.mul_(0)  # the graph holds the conditioning: without it, other outputs
        unconditioned = reference(speech, lengths)[0]
    out = OnnxEncoder(tmp_path / "encoder.onnx").run(speech.numpy(), lengths.numpy())
    real = ~padding_mask(out_lengths, log_probs.size(1))
    torch.testing.assert_close(torch.from_numpy(out["log_probs"])[real], log_probs[real], rtol=0, atol=1e-4)
    assert (unconditioned[real] - log_probs[real]).abs().max() > 1e-3


@pytest.mark.parametrize("method", ["int8-dynamic", "prune"])
def test_conditioned_brick_compresses(asr_run: tuple[Path, Path, Path], tmp_path: Path, method: str) -> None:
    from legokit.workflows.compress import CompressConfig, compress_brick

    brick = load_brick(asr_run[0] / "bricks" / "encoder.brick")
    compressed = compress_brick(brick, CompressConfig(method=method, sparsity=0.3))
    assert "interctc_condition" in compressed.manifest["compression"]["layers"]
    save_brick(compressed, tmp_path / "small.brick")
    loaded = load_brick(tmp_path / "small.brick").module.eval()
    speech, lengths = torch.randn(2, 100, 80), torch.tensor([100, 70])
    with torch.no_grad():
        full, small, again = (m.eval()(speech, lengths) for m in (brick.module, compressed.module, loaded))
    assert torch.equal(small.logits, again.logits) and len(again.inter_logits) == 2
    real = ~padding_mask(full.lengths, full.logits.size(1))
    same = (full.logits[real].argmax(-1) == again.logits[real].argmax(-1)).float().mean()
    assert same > 0.8  # compressed, not broken


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.encoder.interctc_layers=[3]"], "key 'model.encoder.interctc_layers' must be distinct layer indices "
                                             "in 1..2 (encoder.num_layers - 1), got [3]"),
    (["model.encoder.interctc_layers=[0]"], "in 1..2"),
    (["model.encoder.interctc_layers=[1, 1]"], "distinct layer indices"),
    (["model.encoder.interctc_layers=[1]", "model.encoder.ctc_head=false"], "empty when ctc_head is false"),
    (["model.encoder.interctc_layers=[1]", "model.encoder.length_rate=1.0"], "empty when length_rate is set"),
    (["model.encoder.interctc_conditioning=true"], "key 'model.encoder.interctc_conditioning' must be false when "
                                                    "interctc_layers is empty"),
    (["loss.interctc_weight=1.0"], "key 'loss.interctc_weight' must be in [0, 1), got 1.0"),
])
def test_bad_config_is_one_line_naming_the_key(overrides: list[str], message: str) -> None:
    base = ["model.encoder.encoder.num_layers=3", "model.encoder.length_rate=null"]
    with pytest.raises(LegokitError) as err:
        load_config(ExperimentConfig, None, base + overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_interctc_weight_without_interctc_layers_is_refused() -> None:
    with pytest.raises(LegokitError) as err:
        LegoModel([_brick(_cfg())], loss=ChainLossConfig(interctc_weight=0.3), vocabularies=[_vocab()])
    message = str(err.value)
    assert "loss.interctc_weight is 0.3" in message and "model.encoder.interctc_layers" in message
    assert "\n" not in message


def test_brick_built_from_a_bad_config_object_is_refused() -> None:
    """A config made in code (not through from_dict) is checked when the brick is built, in one line."""
    with pytest.raises(LegokitError, match=r"^model\.encoder\.interctc_layers must be distinct layer indices "
                                           r"in 1\.\.2 \(encoder\.num_layers - 1\), got \[5\]$"):
        EncoderBrick(_cfg([5]), 0, VOCAB)
    # and from a manifest's config
    with pytest.raises(LegokitError, match="interctc_layers"):
        from_dict(EncoderBrickConfig, {"encoder": {"num_layers": 1}, "interctc_layers": [1]}, source="m")

"""Loading a brick builds its module without the random initialisation the weights overwrite
(legokit.lego.codec.build_loaded): the result equals the module built, initialised and then loaded, buffers
(persistent or not) and tied parameters included; the checks of the weights stay."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from legokit.config import to_dict
from legokit.errors import LegokitError
from legokit.lego.bricks import Brick, _build_module, brick_from_payload, brick_payload
from legokit.lego.codec import build_loaded, load_weights
from legokit.lego.decoders import DecoderBrick, DecoderBrickConfig
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.ingestors import IngestorConfig
from legokit.nn.config import EncoderConfig

V = 11
CONFORMER = EncoderConfig(kind="conformer", num_layers=2, dim=32, num_heads=4, ffn_dim=64, kernel_size=5,
                          pos_enc="rel")
TRANSFORMER = EncoderConfig(kind="transformer", num_layers=1, dim=32, num_heads=4, ffn_dim=64, pos_enc="abs")


def _encoder(cfg: EncoderBrickConfig, input_vocab: int = 0) -> Brick:
    module = EncoderBrick(cfg, input_vocab, V)
    if cfg.input == "speech":  # CMVN buffers in the state
        module.set_cmvn(torch.randn(cfg.feat_dim), torch.rand(cfg.feat_dim) + 0.5)
    module.length_stats.update(torch.tensor([40, 30]), torch.tensor([10, 7]), torch.tensor([5, 4]))
    arch = {"config": to_dict(cfg), "input_vocab_size": input_vocab, "output_vocab_size": V}
    return Brick(module, {"kind": "encoder", "arch": arch, "input_interface": {}, "output_interface": {}})


def _decoder(cfg: DecoderBrickConfig) -> Brick:
    module = DecoderBrick(cfg, V, V, input_dim=32)
    arch = {"config": to_dict(cfg), "input_vocab_size": V, "output_vocab_size": V, "input_dim": 32}
    return Brick(module, {"kind": "decoder", "arch": arch, "input_interface": {}, "output_interface": {}})


BRICKS = {
    "speech conformer, relative positions, CTC": lambda: _encoder(
        EncoderBrickConfig(input="speech", feat_dim=20, encoder=CONFORMER)),
    "text transformer, absolute positions, OLC": lambda: _encoder(
        EncoderBrickConfig(input="text", encoder=TRANSFORMER, length_rate=2.0, olc_layers=1), input_vocab=13),
    "interface, beamconv ingestor": lambda: _encoder(EncoderBrickConfig(
        input="interface", encoder=TRANSFORMER, ingestor=IngestorConfig(kind="beamconv", num_layers=1, ffn_dim=64)),
        input_vocab=V),
    "decoder, tied embeddings": lambda: _decoder(DecoderBrickConfig(
        dim=32, num_layers=1, num_heads=4, ffn_dim=64, ingestor=IngestorConfig(num_layers=1, ffn_dim=64))),
    "decoder, untied, states ingestor": lambda: _decoder(DecoderBrickConfig(
        dim=32, num_layers=1, num_heads=4, ffn_dim=64, tie_embeddings=False, ingestor=IngestorConfig(kind="states"))),
}


def _ordinary(payload: dict) -> nn.Module:
    """The module built (randomly initialised) and then loaded by copying, as before build_loaded."""
    module = _build_module(json.loads(payload["manifest"]), "ref")
    load_weights(module, payload["state_dict"], "ref")
    return module


def _same(a: nn.Module, b: nn.Module) -> None:
    for kind in ("named_parameters", "named_buffers"):  # buffers: persistent (CMVN, lengths) or not (tables)
        left, right = dict(getattr(a, kind)()), dict(getattr(b, kind)())
        assert left.keys() == right.keys()
        for name, tensor in left.items():
            other = right[name]
            assert tensor.dtype == other.dtype and tensor.requires_grad == other.requires_grad, name
            assert torch.equal(tensor, other), name
    assert [n for n, _ in a.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in b.named_parameters(remove_duplicate=False)]  # the same tied names
    assert a.training == b.training


@pytest.mark.parametrize("name", BRICKS)
def test_a_brick_loaded_without_initialisation_equals_the_initialised_and_loaded_one(name: str) -> None:
    torch.manual_seed(0)
    payload = brick_payload(BRICKS[name]())
    loaded, reference = brick_from_payload(payload, "brick").module, _ordinary(payload)
    _same(loaded, reference)
    # no weight was copied: the parameters are the file's tensors (build_loaded did not fall back)
    ptrs = {t.data_ptr() for t in payload["state_dict"].values()}
    assert all(p.data_ptr() in ptrs for p in loaded.parameters())
    if isinstance(loaded, DecoderBrick) and loaded.cfg.tie_embeddings:
        assert loaded.output.weight is loaded.embed.weight
    loaded.eval(), reference.eval()
    with torch.no_grad():
        if isinstance(loaded, EncoderBrick):
            shape = {"speech": (2, 40, 20)}.get(loaded.cfg.input)
            x = torch.randn(*shape) if shape else torch.randint(1, 13 if loaded.cfg.input == "text" else V, (2, 9))
            if loaded.cfg.input == "interface":
                x = torch.randn(2, 9, V).log_softmax(-1)
            lengths = torch.tensor([x.size(1), x.size(1) - 3])
            out, ref = loaded(x, lengths), reference(x, lengths)
            assert torch.equal(out.states, ref.states) and torch.equal(out.logits, ref.logits)
        else:
            memory = (torch.randn(2, 7, V).log_softmax(-1) if loaded.cfg.ingestor.kind != "states"
                      else torch.randn(2, 7, 32))
            args = (memory, torch.tensor([7, 5]), torch.randint(4, V, (2, 6)), torch.tensor([6, 4]))
            assert torch.equal(loaded(*args), reference(*args))


def test_a_tie_keeps_the_value_copying_leaves_and_dtypes_are_cast_as_copying_casts() -> None:
    """A state whose tied keys differ (hub folders store them twice) and holds float64 tensors: the same
    module as copying into the initialised one gives."""
    torch.manual_seed(0)
    payload = brick_payload(BRICKS["decoder, tied embeddings"]())
    state = {k: v.double() for k, v in payload["state_dict"].items()}
    state["output.weight"] = torch.randn_like(state["output.weight"])
    payload = {**payload, "state_dict": state}
    loaded = build_loaded(lambda: _build_module(json.loads(payload["manifest"]), "x"), state, "x")
    _same(loaded, _ordinary(payload))
    assert loaded.output.weight is loaded.embed.weight and loaded.embed.weight.dtype == torch.float32


class _Cached(nn.Module):
    """A random buffer outside the state and a view of a parameter kept outside the state."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.register_buffer("projection", nn.init.normal_(torch.empty(4, 4)), persistent=False)
        self.register_buffer("weight_view", self.linear.weight.detach()[:2], persistent=False)


def test_only_parameters_skip_initialisation_and_a_view_of_one_makes_it_build_the_ordinary_way() -> None:
    torch.manual_seed(1)
    state = {k: v.clone() for k, v in _Cached().state_dict().items()}
    loaded = build_loaded(_Cached, state, "x")
    # built again and loaded by copying: the view is the loaded weight's, not uninitialised memory
    assert loaded.weight_view.data_ptr() == loaded.linear.weight.data_ptr()
    assert torch.equal(loaded.weight_view, state["linear.weight"][:2])
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items())

    class Random(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 4)
            self.register_buffer("projection", nn.init.normal_(torch.empty(4, 4)), persistent=False)

    state = {k: v.clone() for k, v in Random().state_dict().items()}
    torch.manual_seed(3)
    loaded = build_loaded(Random, state, "x")
    torch.manual_seed(3)
    assert torch.equal(loaded.projection, torch.randn(4, 4))  # drawn, first: the Linear's init was skipped


def test_weights_that_do_not_fit_are_refused_in_one_line() -> None:
    torch.manual_seed(0)
    payload = brick_payload(BRICKS["decoder, untied, states ingestor"]())
    build = lambda: _build_module(json.loads(payload["manifest"]), "m.brick")  # noqa: E731
    state = dict(payload["state_dict"])
    state["output.weight"] = state["output.weight"][:, :-1]
    with pytest.raises(LegokitError, match=r"^m\.brick: weights do not fit .*output\.weight") as err:
        build_loaded(build, state, "m.brick")
    assert "\n" not in str(err.value)
    state = dict(payload["state_dict"])
    del state["embed.weight"]
    with pytest.raises(LegokitError, match=r"missing \['embed\.weight'\]"):
        build_loaded(build, state, "m.brick")

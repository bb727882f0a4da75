"""The acoustic model: shapes, loss dict for the trainer, overfitting a tiny set, both input kinds."""

import pytest
import torch

from legokit.errors import LegokitError
from legokit.tts.features import INPUT_DIM
from legokit.tts.model import AcousticConfig, AcousticModel

TINY = dict(dim=32, encoder_layers=1, decoder_layers=1, num_heads=2, ffn_dim=64, duration_channels=32,
            num_mels=8, dropout=0.0)


def batch(kind: str) -> dict:
    torch.manual_seed(0)
    inputs = torch.randint(2, 10, (2, 5)) if kind == "phones" else torch.randn(2, 5, INPUT_DIM)
    # mels made of per-phone constant blocks, so an alignment exists
    durations = torch.tensor([[3, 2, 4, 1, 2], [2, 2, 3, 0, 0]])
    means = torch.randn(2, 5, 8)
    mel = torch.stack([torch.repeat_interleave(means[b], durations[b], dim=0) for b in range(2)][:1] +
                      [torch.cat([torch.repeat_interleave(means[1], durations[1], dim=0), torch.zeros(5, 8)])])
    return {"inputs": inputs, "input_lengths": torch.tensor([5, 3]), "mel": mel, "mel_lengths": torch.tensor([12, 7])}


@pytest.mark.parametrize("kind", ["phones", "features"])
def test_overfits_a_tiny_batch(kind):
    model = AcousticModel(AcousticConfig(input=kind, num_phones=10, **TINY))
    b = batch(kind)
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        out = model(b)
        optim.zero_grad()
        (out["loss"] / out["weight"]).backward()
        optim.step()
        losses.append(float(out["loss"].detach() / out["weight"]))
    assert out["weight"] == 19 and set(out) >= {"loss", "weight", "mel_l1", "prior", "dur"}
    assert losses[-1] < 0.3 * losses[0]
    model.eval()
    mel, lengths = model.infer(b["inputs"], b["input_lengths"])
    assert mel.shape[0] == 2 and mel.shape[2] == 8 and (lengths >= b["input_lengths"]).all()
    _, same_lengths, durations = model.infer(b["inputs"], b["input_lengths"], return_durations=True)
    assert torch.equal(durations.sum(1), same_lengths) and torch.equal(same_lengths, lengths)
    assert ((durations > 0) == (torch.arange(durations.size(1)) < b["input_lengths"][:, None])).all()


def test_gradient_reaches_the_input_layer_and_not_the_encoder_through_durations():
    model = AcousticModel(AcousticConfig(input="features", **TINY))
    out = model(batch("features"))
    out["dur"].requires_grad_(False)
    (out["loss"]).backward()
    assert model.input_layer.weight.grad.abs().sum() > 0
    # the duration predictor reads detached encoder states: its loss alone leaves the encoder untouched
    model.zero_grad()
    h, mask = model.encode(batch("features")["inputs"], torch.tensor([5, 3]))
    model.duration(h.detach(), mask).sum().backward()
    assert all(p.grad is None for p in model.encoder.parameters())


def test_config_errors():
    with pytest.raises(LegokitError, match="model.input"):
        AcousticModel(AcousticConfig(input="chars"))
    with pytest.raises(LegokitError, match="num_phones"):
        AcousticModel(AcousticConfig(input="phones", num_phones=0))


def test_padding_id_of_the_inventory_is_the_embeddings_padding_idx():
    """The phone embedding's padding_idx is PAD_ID, where build_inventory always puts the padding symbol (even
    when phones sort before '<pad>') and with which collate_tts pads: padding rows embed to zero, take no
    gradient, and change nothing in the outputs of the real phones."""
    from legokit.tts.data import PAD, PAD_ID, build_inventory, collate_tts, phone_encoder
    from legokit.tts.phones import WORD

    inventory = build_inventory([["!", "a", WORD, "'"], ["ʔ", "1", "b"]])
    assert inventory[PAD_ID] == PAD and inventory.count(PAD) == 1 and inventory[1] == WORD
    with pytest.raises(LegokitError, match=r"dump.pt: the phone '<pad>' is the reserved padding symbol"):
        build_inventory([["a", PAD]], "dump.pt")
    encode = phone_encoder(inventory, None, "test")
    samples = [{"id": "u1", "inputs": encode(["a", WORD, "b"]), "mel": torch.zeros(4, 8)},
               {"id": "u2", "inputs": encode(["'"]), "mel": torch.zeros(2, 8)}]
    inputs = collate_tts(samples)["inputs"]
    assert inputs[1, 1:].tolist() == [PAD_ID, PAD_ID] and PAD_ID not in inputs[0].tolist()

    model = AcousticModel(AcousticConfig(input="phones", num_phones=len(inventory), **TINY)).eval()
    assert model.input_layer.padding_idx == PAD_ID and not model.input_layer.weight[PAD_ID].any()
    lengths = torch.tensor([3, 1])
    h, _ = model.encode(inputs, lengths)
    h_other_pad, _ = model.encode(inputs.masked_fill(inputs == PAD_ID, 5), lengths)
    torch.testing.assert_close(h, h_other_pad)  # padding positions are masked whatever their id
    model.train()
    model(collate_tts([{**s, "mel": torch.randn(*s["mel"].shape)} for s in samples]))["loss"].backward()
    grad = model.input_layer.weight.grad
    assert not grad[PAD_ID].any() and grad[inputs[0, 0]].any()

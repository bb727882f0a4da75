"""Ingestors: shapes, padding, and the gradient claims (BeamConv isolates, WEmb does not)."""

import pytest
import torch

from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.ingestors import BeamConv, StatesIngestor, WEmb
from legokit.nn.config import EncoderConfig

V, D = 11, 16


def _probs(b=2, k=7):
    return torch.softmax(torch.randn(b, k, V), -1)


@pytest.mark.parametrize("cls,kw", [(WEmb, {}), (WEmb, {"receptive_field": 3}), (BeamConv, {"k": 4}),
                                    (BeamConv, {"k": 3, "combine": "weighted"})])
def test_shapes_and_padding_invariance(cls, kw):
    ing = cls(vocab_size=V, dim=D, num_heads=2, ffn_dim=32, dropout=0.0, **kw).eval()
    probs, lengths = _probs(), torch.tensor([7, 4])
    states, out_lengths = ing(probs, lengths)
    assert states.shape == (2, 7, D) and torch.equal(out_lengths, lengths)
    # what lies beyond an utterance's length must not change its states
    noisy = probs.clone()
    noisy[1, 4:] = _probs(1, 3)[0]
    states2, _ = ing(noisy, lengths)
    torch.testing.assert_close(states2[1, :4], states[1, :4])


def _upstream_and_loss(ingestor_cls, **kw):
    cfg = EncoderBrickConfig(input="text", encoder=EncoderConfig(kind="transformer", num_layers=1, dim=D,
                                                                 num_heads=2, ffn_dim=32, dropout=0.0),
                             length_rate=2.0, olc_layers=1)
    upstream = EncoderBrick(cfg, input_vocab_size=13, output_vocab_size=V)
    ingestor = ingestor_cls(vocab_size=V, dim=D, num_heads=2, ffn_dim=32, dropout=0.0, **kw)
    tokens, lengths = torch.randint(4, 13, (2, 5)), torch.tensor([5, 3])
    out = upstream(tokens, lengths)
    states, _ = ingestor(torch.softmax(out.logits, -1), out.lengths)
    downstream_loss = states.pow(2).sum()  # stands in for the decoder's CE
    downstream_loss.backward()
    return upstream, ingestor


def test_beamconv_gives_exactly_zero_gradient_upstream():
    upstream, ingestor = _upstream_and_loss(BeamConv, k=4)
    for name, p in upstream.named_parameters():
        assert p.grad is None or torch.count_nonzero(p.grad) == 0, name
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in ingestor.parameters())


def test_beamconv_weighted_also_isolates():
    upstream, _ = _upstream_and_loss(BeamConv, k=4, combine="weighted")
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in upstream.parameters())


def test_wemb_passes_gradient_upstream():
    upstream, _ = _upstream_and_loss(WEmb)
    grads = [p.grad for p in upstream.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0
    assert upstream.ctc.proj.weight.grad.abs().sum() > 0


def test_wemb_is_expected_embedding():
    ing = WEmb(vocab_size=V, dim=D, num_layers=0, dropout=0.0)
    onehot = torch.nn.functional.one_hot(torch.tensor([[3, 5]]), V).float()
    states, _ = ing(onehot, torch.tensor([2]))
    expected = ing.body.pos(ing.embedding[[3, 5]][None] * ing.scale)
    torch.testing.assert_close(states, expected)


def test_states_ingestor_projects():
    states, _ = StatesIngestor(8, D)(torch.randn(2, 3, 8), torch.tensor([3, 2]))
    assert states.shape == (2, 3, D)

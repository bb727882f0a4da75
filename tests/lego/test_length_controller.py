"""Output length controller: output lengths, padding invariance, the copy-query path."""
import pytest
import torch

from legokit.lego.length_controller import OutputLengthController, output_lengths


def test_output_lengths_floor_and_at_least_one():
    assert output_lengths(torch.tensor([1, 3, 10]), 2.0).tolist() == [2, 6, 20]
    assert output_lengths(torch.tensor([1, 3, 10]), 0.25).tolist() == [1, 1, 2]


@pytest.mark.parametrize("queries", ["position", "copy"])
@pytest.mark.parametrize("rate", [2.0, 0.5])
def test_padding_does_not_change_an_utterance(queries, rate):
    torch.manual_seed(0)
    olc = OutputLengthController(16, rate, num_layers=2, num_heads=2, ffn_dim=32, dropout=0.0,
                                 queries=queries).eval()
    long, short = torch.randn(1, 9, 16), torch.randn(1, 5, 16)
    batch = torch.cat([long, torch.cat([short, torch.randn(1, 4, 16)], dim=1)])
    out, lengths = olc(batch, torch.tensor([9, 5]))
    alone, alone_len = olc(short, torch.tensor([5]))
    assert lengths.tolist() == [int(9 * rate), int(5 * rate)]
    assert int(alone_len) == lengths[1]
    torch.testing.assert_close(out[1, : lengths[1]], alone[0], atol=1e-5, rtol=1e-5)
    assert torch.all(out[1, lengths[1]:] == 0)


def test_copy_queries_start_from_the_state_they_map_to():
    """With r = 2, output k reads state k // 2 directly (not only through cross-attention)."""
    torch.manual_seed(0)
    olc = OutputLengthController(8, 2.0, num_layers=1, num_heads=2, ffn_dim=16, dropout=0.0, queries="copy")
    states = torch.randn(1, 4, 8, requires_grad=True)
    # zero both attentions: the only path from the states is then the copied query itself
    for layer in olc.layers.layers:
        for p in [*layer.cross_attn.parameters(), *layer.self_attn.parameters()]:
            torch.nn.init.zeros_(p)
    out, _ = olc(states, torch.tensor([4]))
    grad = torch.autograd.grad(out[0, 5].sum(), states)[0][0]
    assert grad[2].abs().sum() > 0
    assert grad[[0, 1, 3]].abs().sum() == 0
    position = OutputLengthController(8, 2.0, num_layers=1, num_heads=2, ffn_dim=16, dropout=0.0)
    position.load_state_dict(olc.state_dict())
    out, _ = position(states, torch.tensor([4]))
    grad = torch.autograd.grad(out.sum(), states, allow_unused=True)[0]
    assert grad is None or grad.abs().sum() == 0  # position queries see the states only by attention

def test_unknown_query_kind_is_refused():
    with pytest.raises(ValueError, match="copy"):
        OutputLengthController(8, 2.0, queries="states")

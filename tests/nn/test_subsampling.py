import pytest
import torch

from legokit.nn.subsampling import Conv2dSubsampling, subsampled_length

# ESPnet's closed forms for Conv2dSubsampling, Conv2dSubsampling6, Conv2dSubsampling8.
ESPNET = {
    4: lambda t: ((t - 1) // 2 - 1) // 2,
    6: lambda t: ((t - 1) // 2 - 2) // 3,
    8: lambda t: (((t - 1) // 2 - 1) // 2 - 1) // 2,
}


@pytest.mark.parametrize("factor", [4, 6, 8])
def test_length_formula_matches_output(factor):
    layer = Conv2dSubsampling(in_dim=20, dim=8, factor=factor)
    for length in [15, 16, 17, 40, 101]:
        out, out_len = layer(torch.randn(1, length, 20), torch.tensor([length]))
        assert out.shape == (1, out_len.item(), 8)
        assert out_len.item() == ESPNET[factor](length)


def test_padded_batch_is_exact():
    """Frames past an utterance's length never reach its first lengths' outputs."""
    torch.manual_seed(0)
    layer = Conv2dSubsampling(in_dim=10, dim=8, factor=4)
    short = torch.randn(1, 23, 10)
    batch = torch.cat([torch.randn(1, 40, 10), torch.cat([short, torch.randn(1, 17, 10)], 1)])
    out, lens = layer(batch, torch.tensor([40, 23]))
    alone, alone_len = layer(short, torch.tensor([23]))
    assert lens.tolist() == [ESPNET[4](40), alone_len.item()]
    assert torch.allclose(out[1, : lens[1]], alone[0], atol=1e-6)


def test_too_short_gives_zero_length_and_bad_factor_raises():
    assert subsampled_length(torch.tensor([3, 7]), 4).tolist() == [0, 1]
    with pytest.raises(ValueError, match="factor"):
        Conv2dSubsampling(10, 8, factor=5)
    with pytest.raises(ValueError, match="too small"):
        Conv2dSubsampling(13, 8, factor=8)


@pytest.mark.parametrize("factor", [4, 6, 8])
def test_fewer_conv_channels_keep_shapes_and_cut_the_cost(factor):
    """channels=C decouples the conv width from D: same output shape and lengths, C²/D² the conv weights."""
    x, lengths = torch.randn(2, 50, 80), torch.tensor([50, 33])
    wide, narrow = Conv2dSubsampling(80, 64, factor), Conv2dSubsampling(80, 64, factor, channels=16)
    (out_w, len_w), (out_n, len_n) = wide(x, lengths), narrow(x, lengths)
    assert out_w.shape == out_n.shape and torch.equal(len_w, len_n)
    conv_params = [sum(p.numel() for p in m.conv.parameters()) for m in (wide, narrow)]
    assert conv_params[1] < conv_params[0] / 10
    out_n.sum().backward()
    assert all(p.grad is not None for p in narrow.parameters())

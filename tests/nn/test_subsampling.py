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


@pytest.mark.parametrize("factor", [4, 6, 8])
@pytest.mark.parametrize("channels", [None, 16])
def test_eval_path_equals_training_path_on_real_frames(factor, channels):
    """In eval on CPU each utterance is subsampled alone (first conv as a patch matmul, channels-last): the
    training path's outputs on every real frame, zeros past each length, the same lengths."""
    torch.manual_seed(0)
    layer = Conv2dSubsampling(in_dim=80, dim=32, factor=factor, channels=channels)
    x, lengths = torch.randn(4, 101, 80), torch.tensor([101, 80, 33, 5])  # 5 frames: no output frame
    train_out, train_len = layer.train()(x, lengths)
    with torch.no_grad():
        eval_out, eval_len = layer.eval()(x, lengths)
    assert torch.equal(train_len, eval_len) and eval_out.shape == train_out.shape
    for i, n in enumerate(eval_len.tolist()):
        torch.testing.assert_close(eval_out[i, :n], train_out[i, :n], rtol=1e-5, atol=1e-6)
        assert not eval_out[i, n:].any()
    alone, _ = layer(x[:1], lengths[:1])  # one unpadded utterance: no copy into a padded batch
    torch.testing.assert_close(alone[0], train_out[0], rtol=1e-5, atol=1e-6)


def test_eval_path_backpropagates_like_the_training_path():
    """A brick kept in eval mode under autograd (a frozen upstream encoder whose input still needs gradients,
    saliency maps) takes the eval path: its gradients equal the training path's on the real frames."""
    torch.manual_seed(0)
    layer = Conv2dSubsampling(in_dim=80, dim=32, factor=4, channels=16)
    lengths = torch.tensor([100, 80, 60])
    mask = (torch.arange(24)[None, :] < subsampled_length(lengths, 4)[:, None]).unsqueeze(-1)
    grads = []
    for mode in (layer.eval, layer.train):
        mode()
        layer.zero_grad()
        x = torch.randn(3, 100, 80, generator=torch.Generator().manual_seed(1), requires_grad=True)
        out, _ = layer(x, lengths)
        ((out * mask) ** 2).sum().backward()
        grads.append((x.grad, layer.out.weight.grad.clone(), layer.conv[0].weight.grad.clone()))
    for eval_grad, train_grad in zip(*grads, strict=True):
        torch.testing.assert_close(eval_grad, train_grad, rtol=1e-4, atol=1e-5)

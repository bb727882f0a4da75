import pytest
import torch

from legokit.nn.conformer import ConformerEncoder, ConvolutionModule

DIM, HEADS, FFN = 16, 4, 32


def _padding(lengths, total):
    return torch.arange(total)[None, :] >= torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("conv_norm", ["batch", "layer"])
@pytest.mark.parametrize("window", [None, 3])
def test_padding_does_not_leak(conv_norm, window):
    enc = ConformerEncoder(2, DIM, HEADS, FFN, kernel_size=5, window=window, conv_norm=conv_norm).eval()
    x = torch.randn(2, 11, DIM)
    x[1, 6:] = 100.0  # padding garbage must not reach the valid frames (zeroed before the depthwise conv)
    out = enc(x, _padding([11, 6], 11))
    assert torch.allclose(out[1, :6], enc(x[1:, :6])[0], atol=1e-5)


def test_conv_module_receptive_field_is_kernel_size():
    conv = ConvolutionModule(DIM, kernel_size=5, dropout=0.0, norm="layer").eval()
    x = torch.randn(1, 12, DIM)
    changed = x.clone()
    changed[0, 8] += 1.0
    diff = (conv(x) - conv(changed)).abs().sum(-1)[0]
    assert diff.nonzero().flatten().tolist() == [6, 7, 8, 9, 10]


def test_wide_window_equals_full_and_gradients_flow():
    torch.manual_seed(0)
    full = ConformerEncoder(2, DIM, HEADS, FFN, kernel_size=3, dropout=0.0)
    windowed = ConformerEncoder(2, DIM, HEADS, FFN, kernel_size=3, dropout=0.0, window=[30, 30])
    windowed.load_state_dict(full.state_dict())
    x = torch.randn(2, 9, DIM)
    out = windowed(x)
    assert torch.allclose(full(x), out, atol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in windowed.parameters())


def test_bad_kernel_and_norm():
    with pytest.raises(ValueError, match="odd"):
        ConvolutionModule(DIM, kernel_size=4)
    with pytest.raises(ValueError, match="norm"):
        ConvolutionModule(DIM, norm="group")


def _conv_module_reference(conv, x, padding_mask):
    """The module's computation with its nn.Conv1d layers on (B, D, T), as written before the fast path."""
    h = conv.glu(conv.pointwise_in(x.transpose(1, 2)))
    h = h.masked_fill(padding_mask.unsqueeze(1), 0.0)
    h = conv.depthwise(h)
    return conv.dropout(conv.pointwise_out(conv.activation(conv.norm(h))).transpose(1, 2))  # norm over D of (B, D, T)


@pytest.mark.parametrize("norm", ["batch", "layer"])
@pytest.mark.parametrize("training", [True, False])
def test_conv_module_fast_path_equals_conv1d(norm, training):
    torch.manual_seed(0)
    fast = ConvolutionModule(DIM, kernel_size=7, dropout=0.0, norm=norm).train(training)
    ref = ConvolutionModule(DIM, kernel_size=7, dropout=0.0, norm=norm).train(training)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(3, 13, DIM, requires_grad=True)
    mask = _padding([13, 9, 4], 13)
    out, expected = fast(x, mask), _conv_module_reference(ref, x, mask)
    assert torch.allclose(out, expected, atol=1e-5)
    grad_fast = torch.autograd.grad(out.square().sum(), [x, *fast.parameters()])
    grad_ref = torch.autograd.grad(expected.square().sum(), [x, *ref.parameters()])
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(grad_fast, grad_ref))
    for name, buffer in ref.named_buffers():  # BatchNorm running statistics move the same way
        assert torch.allclose(dict(fast.named_buffers())[name].float(), buffer.float(), atol=1e-6), name

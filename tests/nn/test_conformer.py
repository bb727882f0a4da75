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


def _trained_norms(enc: ConformerEncoder) -> ConformerEncoder:
    """BatchNorm statistics away from (0, 1), so that the packed rows' norm is really exercised."""
    for module in enc.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    return enc


@pytest.mark.parametrize("pos_enc", ["rel", "abs"])
@pytest.mark.parametrize("window", [None, 3])
@pytest.mark.parametrize("conv_norm", ["batch", "layer"])
def test_packed_inference_equals_padded_computation(pos_enc, window, conv_norm):
    """In eval without autograd a padded batch runs on its real frames only (packed rows; relative attention
    per utterance): the padded computation's states on every real frame, zeros at the padding."""
    torch.manual_seed(0)
    enc = _trained_norms(ConformerEncoder(2, DIM, HEADS, FFN, kernel_size=5, window=window, conv_norm=conv_norm,
                                          pos_enc=pos_enc)).double().eval()
    x = torch.randn(5, 17, DIM, dtype=torch.float64)
    mask = _padding([17, 9, 1, 0, 12], 17)  # one utterance without frames
    padded = enc(x, mask)  # autograd on: the padded layout
    for grad_mode in (torch.no_grad, torch.inference_mode):
        with grad_mode():
            packed = enc(x, mask)
            enc.packed_inference = False
            unpacked = enc(x, mask)
            enc.packed_inference = True
        torch.testing.assert_close(packed[~mask], padded[~mask], rtol=0, atol=1e-12)
        torch.testing.assert_close(unpacked, padded, rtol=0, atol=1e-12, equal_nan=True)
        assert torch.equal(packed[mask], torch.zeros_like(packed[mask]))


def test_packing_round_trip_and_refuses_a_mask_with_leading_padding():
    from legokit.nn.packing import Packing

    x = torch.randn(3, 5, 2)
    packing = Packing(_padding([5, 2, 0], 5))
    assert packing.lengths == [5, 2, 0]
    assert torch.equal(packing.pack(x), torch.cat([x[0], x[1, :2]]))
    assert torch.equal(packing.unpack(packing.pack(x)), x.masked_fill(_padding([5, 2, 0], 5)[..., None], 0.0))
    with pytest.raises(ValueError, match="after each utterance"):
        Packing(torch.tensor([[True, False, False]]))
    assert Packing.of(torch.tensor([[True, False, False]])) is None


def test_leading_padding_takes_the_padded_layout():
    enc = ConformerEncoder(1, DIM, HEADS, FFN, kernel_size=3, pos_enc="rel").eval()
    x, mask = torch.randn(2, 6, DIM), torch.tensor([[False] * 6, [True, True] + [False] * 4])
    with torch.no_grad():
        fast = enc(x, mask)
        enc.packed_inference = False
        assert torch.equal(fast, enc(x, mask))

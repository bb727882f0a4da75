import pytest
import torch
import torch.nn.functional as F

from legokit.nn.attention import attention
from legokit.nn.dropout import Dropout, dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_keep_rate_and_expectation(p):
    torch.manual_seed(0)
    x = torch.ones(1000, 1000)
    y = dropout(x, p)
    kept = (y != 0).float().mean().item()
    assert abs(kept - (1 - p)) < 3e-3  # 1e6 Bernoulli draws: std 5e-4
    assert abs(y.mean().item() - 1.0) < 5e-3  # inverted dropout keeps the expectation
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], y[y != 0][0].item()))


def test_mask_bits_are_independent_of_position():
    """Each int64 draw feeds four elements: every slot of the four must drop at the same rate."""
    torch.manual_seed(0)
    keep, _ = keep_mask((250_000, 4), 0.25, torch.device("cpu"))
    rates = 1 - keep.float().mean(0)
    assert torch.allclose(rates, torch.full((4,), 0.25), atol=4e-3)
    joint = (~keep[:, 0] & ~keep[:, 1]).float().mean().item()
    assert abs(joint - 0.25**2) < 3e-3  # independent slots


def test_scale_makes_the_quantised_probability_unbiased():
    keep, scale = keep_mask((10,), 0.1, torch.device("cpu"))
    dropped = round(0.1 * 65536) / 65536
    assert scale == pytest.approx(1 / (1 - dropped))
    assert keep.dtype == torch.bool and keep.shape == (10,)


def test_gradient_is_the_mask_times_scale_and_dtype_is_kept():
    torch.manual_seed(1)
    for dtype in (torch.float32, torch.bfloat16, torch.float64):
        x = torch.randn(37, 11, dtype=dtype, requires_grad=True)
        y = dropout(x, 0.2)
        assert y.dtype == dtype
        (grad,) = torch.autograd.grad(y.sum(), x)
        kept = y != 0
        scale = 65536 / (65536 - round(0.2 * 65536))
        assert torch.allclose(grad.float(), kept.float() * scale, rtol=1e-2)
        assert torch.equal(y[kept], (x[kept] * scale).to(dtype))


def test_reproducible_under_manual_seed_and_identity_in_eval():
    x = torch.randn(64, 64)
    torch.manual_seed(3)
    a = dropout(x, 0.1)
    torch.manual_seed(3)
    b = dropout(x, 0.1)
    assert torch.equal(a, b)
    module = Dropout(0.1).eval()
    assert module(x) is x and dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.5)


def test_state_dict_compatible_with_nn_dropout():
    assert Dropout(0.1).state_dict() == torch.nn.Dropout(0.1).state_dict() == {}
    assert "p=0.1" in repr(Dropout(0.1))


@pytest.mark.parametrize("masked", [False, True])
def test_attention_equals_fused_kernel_without_dropout_and_zeroes_empty_rows(masked):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, dtype=torch.float64) for _ in range(3))
    mask = None
    if masked:
        mask = torch.rand(2, 1, 5, 5) > 0.4
        mask[0, 0, 2] = False  # a query with no key
    # dropout_p=1e-12 takes the explicit path; its quantised probability is 0, so nothing is dropped
    explicit = attention(q, k, v, mask, dropout_p=1e-12)
    fused = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if masked:
        assert torch.equal(explicit[0, :, 2], torch.zeros_like(explicit[0, :, 2]))
        keep = mask.any(-1, keepdim=True).expand(2, 3, 5, 1)
        assert torch.allclose(explicit * keep, fused.nan_to_num() * keep, atol=1e-12)
    else:
        assert torch.allclose(explicit, fused, atol=1e-12)


def test_attention_dropout_gradients_are_finite_with_empty_rows():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 4, 8, requires_grad=True) for _ in range(3))
    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    mask[..., 1, :] = False
    out = attention(q, k, v, mask, dropout_p=0.3)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    assert all(torch.isfinite(g).all() for g in grads)

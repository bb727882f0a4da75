import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from legokit.nn.attention import MultiHeadAttention, restricted_attention


def band_attention(q, k, v, window, key_padding_mask=None):
    """Reference: full O(T²) attention with the ±window band mask."""
    pos = torch.arange(q.size(2))
    mask = ((pos[:, None] - pos[None, :]).abs() <= window)[None, None]
    if key_padding_mask is not None:
        mask = mask & ~key_padding_mask[:, None, None, :]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _inputs(batch, length, heads=3, head_dim=8):
    q, k, v = (torch.randn(batch, heads, length, head_dim, dtype=torch.float64, requires_grad=True)
               for _ in range(3))
    return q, k, v


@pytest.mark.parametrize(
    "length,window,block_size",
    [(1, 0, None), (7, 3, None), (50, 4, None), (3, 10, None), (33, 0, None), (64, 16, None), (65, 16, None),
     (61, 10, 4), (40, 7, 100)],
)
def test_equals_band_masked_full_attention_with_grads(length, window, block_size):
    q, k, v = _inputs(2, length)
    padding = torch.zeros(2, length, dtype=torch.bool)
    padding[1, length // 2 + 1:] = True
    out = restricted_attention(q, k, v, window, padding, block_size=block_size)
    ref = band_attention(q, k, v, window, padding)
    assert torch.allclose(out, ref, atol=1e-10)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v), grad)
    want = torch.autograd.grad(ref, (q, k, v), grad)
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=1e-10)


def test_window_zero_returns_values():
    q, k, v = _inputs(1, 9)
    assert torch.allclose(restricted_attention(q, k, v, 0), v)


def test_all_padding_rows_are_finite():
    q, k, v = _inputs(2, 12)
    padding = torch.zeros(2, 12, dtype=torch.bool)
    padding[0] = True  # an empty utterance
    padding[1, 4:] = True  # queries 9.. see only padding with window 3
    out = restricted_attention(q, k, v, 3, padding)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(v.grad).all()


@pytest.mark.slow
def test_long_input_memory_is_linear():
    """T = 20k, w = 40 runs forward+backward in a small fraction of the 1.6 GB a full score matrix needs."""
    code = textwrap.dedent(
        """
        import torch
        from legokit.nn.attention import restricted_attention
        torch.set_num_threads(1)
        q, k, v = (torch.randn(1, 1, 20000, 32, requires_grad=True) for _ in range(3))
        def status_mb(key):
            line = next(l for l in open('/proc/self/status') if l.startswith(key))
            return int(line.split()[1]) / 1024
        open('/proc/self/clear_refs', 'w').write('5')  # reset the peak (VmHWM) to the current RSS
        before = status_mb('VmRSS')
        restricted_attention(q, k, v, 40).sum().backward()
        print(status_mb('VmHWM') - before)
        """
    )
    peak_mb = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   check=True).stdout)
    assert peak_mb < 200


def test_mha_matches_torch_multihead_attention():
    torch.manual_seed(0)
    dim, heads = 16, 4
    ours = MultiHeadAttention(dim, heads)
    theirs = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        theirs.out_proj.weight.copy_(ours.out_proj.weight)
        theirs.out_proj.bias.copy_(ours.out_proj.bias)
    query, memory = torch.randn(2, 5, dim), torch.randn(2, 7, dim)
    padding = torch.tensor([[False] * 7, [False] * 4 + [True] * 3])
    want, _ = theirs(query, memory, memory, key_padding_mask=padding)
    assert torch.allclose(ours(query, memory, memory, padding), want, atol=1e-6)
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)
    want, _ = theirs(query, query, query, attn_mask=causal)
    assert torch.allclose(ours(query, query, query, causal=True), want, atol=1e-6)


def test_mha_causal_is_end_aligned_for_incremental_queries():
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(1, 6, 8)
    full = mha(x, x, x, causal=True)
    k, v = mha.project_kv(x, x)
    assert torch.allclose(mha.attend(x[:, 4:], k, v, causal=True), full[:, 4:], atol=1e-6)


def test_mha_window_matches_band_and_fully_padded_item_is_finite():
    mha = MultiHeadAttention(8, 2).double()
    x = torch.randn(2, 11, 8, dtype=torch.float64)
    padding = torch.zeros(2, 11, dtype=torch.bool)
    padding[1] = True
    q, k, v = mha.split_heads(mha.q_proj(x)), *mha.project_kv(x, x)
    want = mha.out_proj(band_attention(q, k, v, 2, padding).transpose(1, 2).flatten(2))
    assert torch.allclose(mha(x, x, x, padding, window=2), want, atol=1e-10)
    assert torch.isfinite(mha(x, x, x, padding)).all()
    with pytest.raises(ValueError, match="causal"):
        mha(x, x, x, causal=True, window=2)


def test_fused_qkv_projection_equals_separate_projections_and_falls_back_without_weights():
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(3, 4, 8)
    want = torch.cat([mha.q_proj(x), mha.k_proj(x), mha.v_proj(x)], dim=-1)
    assert torch.allclose(mha.project_qkv(x, mha.fused_qkv()), want, atol=1e-6)
    mha.k_proj = torch.nn.Sequential(mha.k_proj)  # no .weight, like a dynamically quantized Linear
    assert mha.fused_qkv() is None
    assert torch.allclose(mha.project_qkv(x, None), want, atol=1e-6)

import pytest
import torch

from legokit.errors import LegokitError
from legokit.nn.transformer import TransformerDecoder, TransformerEncoder

DIM, HEADS, FFN = 16, 4, 32


def _padding(lengths, total):
    return torch.arange(total)[None, :] >= torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("window", [None, 2, [None, 3]])
def test_encoder_padding_does_not_leak(window):
    enc = TransformerEncoder(2, DIM, HEADS, FFN, window=window).eval()
    x = torch.randn(2, 9, DIM)
    out = enc(x, _padding([9, 5], 9))
    alone = enc(x[1:, :5])
    assert out.shape == (2, 9, DIM)
    assert torch.allclose(out[1, :5], alone[0], atol=1e-5)


def test_encoder_wide_window_equals_full_attention():
    torch.manual_seed(1)
    full = TransformerEncoder(2, DIM, HEADS, FFN, dropout=0.0)
    windowed = TransformerEncoder(2, DIM, HEADS, FFN, dropout=0.0, window=20)
    windowed.load_state_dict(full.state_dict())
    x = torch.randn(2, 12, DIM)
    assert torch.allclose(full(x), windowed(x), atol=1e-5)


def test_encoder_window_list_must_match_layers():
    with pytest.raises(LegokitError, match="'window' lists 3 values but the encoder has 2"):
        TransformerEncoder(2, DIM, HEADS, FFN, window=[4, 4, 4])


def test_encoder_gradients_reach_every_parameter():
    enc = TransformerEncoder(2, DIM, HEADS, FFN, window=2)
    enc(torch.randn(2, 7, DIM), _padding([7, 4], 7)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())


def test_causal_decoder_ignores_the_future_and_non_causal_does_not():
    memory = torch.randn(2, 6, DIM)
    x = torch.randn(2, 5, DIM)
    x_changed = x.clone()
    x_changed[:, 3:] = torch.randn(2, 2, DIM)
    causal = TransformerDecoder(2, DIM, HEADS, FFN).eval()
    assert torch.allclose(causal(x, memory)[:, :3], causal(x_changed, memory)[:, :3], atol=1e-6)
    bidirectional = TransformerDecoder(2, DIM, HEADS, FFN, causal=False).eval()
    assert not torch.allclose(bidirectional(x, memory)[:, :3], bidirectional(x_changed, memory)[:, :3])
    with pytest.raises(ValueError, match="causal"):
        bidirectional.forward_step(x[:, :1], bidirectional.init_cache(memory))


def test_forward_step_equals_forward_on_prefix_and_reorder():
    dec = TransformerDecoder(3, DIM, HEADS, FFN).eval()
    memory = torch.randn(3, 8, DIM)
    memory_padding = _padding([8, 5, 2], 8)
    x = torch.randn(3, 6, DIM)
    full = dec(x, memory, memory_padding)
    cache = dec.init_cache(memory, memory_padding)
    steps = []
    for t in range(6):
        out, cache = dec.forward_step(x[:, t:t + 1], cache)
        steps.append(out)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)

    index = torch.tensor([2, 2, 0])
    reordered = TransformerDecoder.reorder_cache(cache, index)
    nxt = torch.randn(3, 1, DIM)
    out, _ = dec.forward_step(nxt, reordered)
    want = dec(torch.cat([x[index], nxt], 1), memory[index], memory_padding[index])[:, -1:]
    assert torch.allclose(out, want, atol=1e-5)


def test_decoder_target_padding_does_not_leak():
    dec = TransformerDecoder(2, DIM, HEADS, FFN, causal=False).eval()
    memory, x = torch.randn(2, 6, DIM), torch.randn(2, 5, DIM)
    out = dec(x, memory, padding_mask=_padding([5, 3], 5))
    assert torch.allclose(out[1, :3], dec(x[1:, :3], memory[1:])[0], atol=1e-5)


def test_beam_layout_shares_memory_and_dropped_rows_are_released():
    """Beam-search layout (r consecutive rows per memory row) attends without copying the memory per row,
    and equals forward on the repeated memory; dropping an utterance shrinks the cached memory K/V."""
    dec = TransformerDecoder(2, DIM, HEADS, FFN).eval()
    memory, memory_padding = torch.randn(2, 7, DIM), _padding([7, 4], 7)
    beam = torch.arange(2).repeat_interleave(3)  # rows 0,0,0,1,1,1
    cache = TransformerDecoder.reorder_cache(dec.init_cache(memory, memory_padding), beam)
    assert cache.cross_k[0].size(0) == 2
    x = torch.randn(6, 3, DIM)
    steps = []
    for t in range(3):
        out, cache = dec.forward_step(x[:, t:t + 1], cache)
        steps.append(out)
    assert torch.allclose(torch.cat(steps, 1), dec(x, memory[beam], memory_padding[beam]), atol=1e-5)

    keep = torch.tensor([4, 3, 5])  # only utterance 1 survives
    cache = TransformerDecoder.reorder_cache(cache, keep)
    assert cache.cross_k[0].size(0) == 1 and cache.memory_rows.tolist() == [0, 0, 0]
    nxt = torch.randn(3, 1, DIM)
    out, _ = dec.forward_step(nxt, cache)
    want = dec(torch.cat([x[keep], nxt], 1), memory[beam[keep]], memory_padding[beam[keep]])[:, -1:]
    assert torch.allclose(out, want, atol=1e-5)


def test_cache_buffers_grow_and_reorders_chain_like_a_recomputed_prefix():
    """Capacity 2 grows twice over 6 steps; a reorder (shrinking, repeating, expanding rows) after every step
    keeps each row's K/V: the step equals forward over the row's gathered prefix."""
    torch.manual_seed(0)
    dec = TransformerDecoder(2, DIM, HEADS, FFN).eval()
    memory, memory_padding = torch.randn(2, 5, DIM), _padding([5, 3], 5)
    cache = dec.init_cache(memory, memory_padding, capacity=2)
    prefix, memory_of = torch.empty(2, 0, DIM), torch.arange(2)
    indices = [torch.tensor([0, 0, 1, 1, 1]), torch.tensor([4, 0, 2]), torch.tensor([1, 1, 0, 2, 2, 0, 1]),
               torch.tensor([6, 5]), torch.tensor([1, 0, 1, 1]), torch.tensor([3])]
    for index in indices:
        x = torch.randn(prefix.size(0), 1, DIM)
        out, cache = dec.forward_step(x, cache)
        prefix = torch.cat([prefix, x], 1)
        want = dec(prefix, memory[memory_of], memory_padding[memory_of])[:, -1:]
        assert torch.allclose(out, want, atol=1e-5)
        cache = TransformerDecoder.reorder_cache(cache, index)
        prefix, memory_of = prefix[index], memory_of[index]
    assert cache.length == 6 and cache.self_kv[0].size(1) == 8

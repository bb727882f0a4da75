"""Relative positional self-attention (Transformer-XL, ESPnet's Conformer): full and restricted, in the Conformer."""

import math

import pytest
import torch

from legokit.errors import LegokitError
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.nn.attention import RelPositionMultiHeadAttention, attention, rel_reach, restricted_attention
from legokit.nn.config import EncoderConfig, build_encoder
from legokit.nn.conformer import ConformerEncoder
from legokit.nn.positional import RelativePositionalEncoding

DIM, HEADS, FFN = 16, 4, 32


def reference(attn: RelPositionMultiHeadAttention, x, padding=None, window=None):
    """The Transformer-XL score over every (i, j) pair, written out: ((q_i + u)·k_j + (q_i + v)·W p(i - j)) / √Dh,
    p(r)[2m] = sin(r / 10000^(2m/D)), p(r)[2m+1] = cos(same); softmax over the allowed keys; out_proj."""
    batch, length, dim = x.shape
    heads, head_dim = attn.num_heads, dim // attn.num_heads
    q, k, v = (proj(x).view(batch, length, heads, head_dim) for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
    offset = (torch.arange(length)[:, None] - torch.arange(length)[None, :]).to(x.dtype)  # i - j
    inv_freq = 10000.0 ** (-torch.arange(0, dim, 2, dtype=x.dtype) / dim)
    angle = offset[..., None] * inv_freq
    sinusoid = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)  # (T, T, D) interleaved sin, cos
    p = attn.linear_pos(sinusoid).view(length, length, heads, head_dim)
    content = torch.einsum("bihd,bjhd->bhij", q + attn.pos_bias_u, k)
    position = torch.einsum("bihd,ijhd->bhij", q + attn.pos_bias_v, p)
    scores = (content + position) / math.sqrt(head_dim)
    allowed = torch.ones(batch, 1, length, length, dtype=torch.bool)
    if window is not None:
        allowed = allowed & (offset.abs() <= window)
    if padding is not None:
        allowed = allowed & ~padding[:, None, None, :]
    allowed = allowed | ~allowed.any(-1, keepdim=True)  # rows without a key (padding, w = 0): left unmasked
    probs = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    out = torch.einsum("bhij,bjhd->bihd", probs, v).reshape(batch, length, dim)
    return attn.out_proj(out)


def _module(seed: int = 0) -> RelPositionMultiHeadAttention:
    torch.manual_seed(seed)
    return RelPositionMultiHeadAttention(DIM, HEADS).double().eval()


def _pos(length, window=None):
    return RelativePositionalEncoding(DIM)(rel_reach(length, window)).double()


def _padding(lengths, total):
    return torch.arange(total)[None, :] >= torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("length", [1, 2, 9, 23])
def test_full_equals_transformer_xl_reference(length):
    attn = _module()
    x = torch.randn(2, length, DIM, dtype=torch.float64)
    padding = _padding([length, max(length // 2, 1)], length)
    out = attn(x, _pos(length), padding)
    assert torch.allclose(out, reference(attn, x, padding), atol=1e-5)


@pytest.mark.parametrize("length,window", [(23, 0), (23, 3), (23, 8), (23, 22), (17, 40), (40, 7)])
def test_restricted_equals_full_with_band_mask(length, window):
    attn = _module(1)
    x = torch.randn(2, length, DIM, dtype=torch.float64, requires_grad=True)
    padding = _padding([length, length - 5], length)
    out = attn(x, _pos(length, window), padding, window=window)
    ref = reference(attn, x, padding, window)
    assert torch.allclose(out[~padding], ref[~padding], atol=1e-5)
    grad = torch.randn_like(out) * (~padding)[..., None]
    got = torch.autograd.grad(out, [x, *attn.parameters()], grad)
    want = torch.autograd.grad(ref, [x, *attn.parameters()], grad)
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=1e-5)


@pytest.mark.parametrize("block_size", [1, 3, 5, 64])
def test_blockwise_band_placement_for_any_block_size(block_size):
    """restricted_attention's gathered band equals the full score matrix's band, for every block layout."""
    length, window = 29, 5
    q, k, v = (torch.randn(2, 3, length, 8, dtype=torch.float64) for _ in range(3))
    rel = torch.randn(2, 3, length, 2 * window + 1, dtype=torch.float64)
    padding = _padding([length, 11], length)
    out = restricted_attention(q, k, v, window, padding, block_size=block_size, rel_scores=rel)
    i, j = torch.arange(length)[:, None], torch.arange(length)[None, :]
    band = (j - i).abs() <= window
    bias = rel.gather(-1, (window + j - i).clamp(0, 2 * window).expand(2, 3, length, length))
    ref = attention(q, k, v, attn_mask=band & ~padding[:, None, None, :], bias=bias)
    assert torch.allclose(out, ref, atol=1e-10)


def test_cpu_dropout_path_with_bias_matches_fused_kernel():
    """The unfused CPU path (taken with dropout) adds the float bias and zeroes rows without a key, like SDPA."""
    q, k, v = (torch.randn(1, 2, 6, 4, dtype=torch.float64) for _ in range(3))
    bias = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    mask = torch.ones(6, 6, dtype=torch.bool).tril()
    mask[2] = False  # a query with no allowed key
    fused = attention(q, k, v, attn_mask=mask, bias=bias)
    unfused = attention(q, k, v, attn_mask=mask, dropout_p=1e-12, bias=bias)
    assert torch.allclose(fused, unfused, atol=1e-9)
    assert fused[:, :, 2].abs().max() == 0.0


@pytest.mark.parametrize("window", [None, 4])
def test_gradients_reach_pos_biases_and_projection(window):
    torch.manual_seed(0)
    enc = ConformerEncoder(2, DIM, HEADS, FFN, kernel_size=3, dropout=0.1, window=window, pos_enc="rel")
    out = enc(torch.randn(2, 15, DIM), _padding([15, 9], 15))
    out.sum().backward()
    for layer in enc.layers:
        for param in (layer.self_attn.pos_bias_u, layer.self_attn.pos_bias_v, layer.self_attn.linear_pos.weight):
            assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


@pytest.mark.parametrize("window", [None, 3])
def test_padded_batch_equals_items_alone(window):
    torch.manual_seed(0)
    enc = ConformerEncoder(2, DIM, HEADS, FFN, kernel_size=5, window=window, pos_enc="rel").eval()
    x = torch.randn(3, 14, DIM)
    x[1, 9:] = 100.0  # padding garbage
    x[2, 4:] = -50.0
    lengths = [14, 9, 4]
    out = enc(x, _padding(lengths, 14))
    for b, n in enumerate(lengths):
        assert torch.allclose(out[b, :n], enc(x[b:b + 1, :n])[0], atol=1e-5)


def test_full_attention_is_translation_equivariant():
    """Shifting the input right by s (s masked frames in front) shifts the output by s, exactly: only i - j counts."""
    torch.manual_seed(0)
    enc = ConformerEncoder(2, DIM, HEADS, FFN, kernel_size=5, pos_enc="rel").eval()
    x = torch.randn(1, 12, DIM)
    shift = 5
    shifted = torch.cat([torch.zeros(1, shift, DIM), x], dim=1)
    padding = torch.zeros(1, 12 + shift, dtype=torch.bool)
    padding[0, :shift] = True
    assert torch.allclose(enc(shifted, padding)[:, shift:], enc(x), atol=1e-5)


@pytest.mark.parametrize("pos_enc,equivariant", [("rel", True), ("abs", False)])
def test_speech_brick_with_window_is_translation_equivariant_away_from_edges(pos_enc, equivariant):
    """A speech brick with relative positions and w = 3: features shifted by 4·s frames (the subsampling) give
    states shifted by s wherever the receptive field stays inside both inputs; absolute positions do not."""
    torch.manual_seed(0)
    cfg = EncoderBrickConfig(input="speech", feat_dim=8, encoder=EncoderConfig(
        num_layers=2, dim=DIM, num_heads=HEADS, ffn_dim=FFN, kernel_size=3, dropout=0.0, window=3, pos_enc=pos_enc))
    brick = EncoderBrick(cfg, output_vocab_size=7).eval()
    feats = torch.randn(1, 200, 8)
    shift = 5
    whole = brick(feats, torch.tensor([200])).states
    cut = brick(feats[:, 4 * shift:], torch.tensor([200 - 4 * shift])).states
    margin = 2 * 3 + 1  # layers × max(w, kernel // 2), plus one frame of the subsampling's edge
    inner = slice(margin, cut.size(1) - margin)
    same = torch.allclose(whole[:, shift:][:, inner], cut[:, inner], atol=1e-5)
    assert same is equivariant


def test_default_abs_path_has_no_relative_parameters():
    enc = build_encoder(EncoderConfig(num_layers=1, dim=DIM, num_heads=HEADS, ffn_dim=FFN))
    assert enc.rel_pos is None
    assert not any("pos_bias" in name or "linear_pos" in name for name in enc.state_dict())
    rel = build_encoder(EncoderConfig(num_layers=1, dim=DIM, num_heads=HEADS, ffn_dim=FFN, pos_enc="rel"))
    extra = set(rel.state_dict()) - set(enc.state_dict())
    assert extra == {"layers.0.self_attn.linear_pos.weight", "layers.0.self_attn.pos_bias_u",
                     "layers.0.self_attn.pos_bias_v"}


@pytest.mark.parametrize("fields,message", [
    ({"pos_enc": "relative"}, "encoder.pos_enc must be 'abs' or 'rel', got 'relative'"),
    ({"pos_enc": "rel", "kind": "transformer"}, "encoder.pos_enc must be 'abs' for kind 'transformer', got 'rel'"),
])
def test_bad_pos_enc_is_one_line_error(fields, message):
    with pytest.raises(LegokitError) as err:
        build_encoder(EncoderConfig(num_layers=1, dim=DIM, num_heads=HEADS, ffn_dim=FFN, **fields))
    assert str(err.value) == message


def test_table_grows_beyond_its_initial_reach():
    table = RelativePositionalEncoding(DIM, max_reach=2)
    grown = table(7)
    assert grown.shape == (15, DIM)
    assert torch.allclose(grown[7], torch.tensor([0.0, 1.0] * (DIM // 2)))  # offset 0: sin 0, cos 0
    assert torch.allclose(grown[0, 0::2], -grown[14, 0::2]) and torch.allclose(grown[0, 1::2], grown[14, 1::2])


def test_rel_shift_view_equals_rel_shift():
    from legokit.nn.attention import rel_shift, rel_shift_view

    for length in (1, 2, 7):
        scores = torch.randn(2, 3, length, 2 * length - 1)
        assert torch.equal(rel_shift_view(scores), rel_shift(scores))


@pytest.mark.parametrize("grad_mode", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("length", [1, 2, 9, 23])
def test_inference_path_equals_reference_and_training_path(grad_mode, length):
    """Without autograd in eval, full attention takes the view-skew path: the same outputs as the written-out
    Transformer-XL score and as the computation it replaces (eval with autograd), padded rows included."""
    attn = _module()
    x = torch.randn(3, length, DIM, dtype=torch.float64)
    padding = _padding([length, max(length // 2, 1), 0], length)  # the last utterance is all padding
    pos = _pos(length)
    with_grad = attn(x, pos, padding)
    with grad_mode():
        fast = attn(x, pos, padding)
    torch.testing.assert_close(fast, with_grad, rtol=0, atol=1e-12, equal_nan=True)
    real = ~padding.all(-1)
    torch.testing.assert_close(fast[real], reference(attn, x, padding)[real])


def test_speech_brick_inference_equals_training_path_computation():
    """The speech brick in eval under inference_mode (cheaper subsampling and attention) gives, on every real
    frame, the states of its eval forward with autograd (the training path's attention), with the training
    path's Conv2d subsampling as well."""
    torch.manual_seed(0)
    cfg = EncoderBrickConfig(input="speech", feat_dim=20, encoder=EncoderConfig(
        kind="conformer", num_layers=2, dim=DIM, num_heads=HEADS, ffn_dim=FFN, kernel_size=5, pos_enc="rel"))
    brick = EncoderBrick(cfg, output_vocab_size=7).eval()
    speech, lengths = torch.randn(3, 61, 20), torch.tensor([61, 40, 23])
    reference_out = brick(speech, lengths)
    brick.frontend.train()  # the Conv2d path of the subsampling (no dropout in it)
    conv_path = brick(speech, lengths)
    brick.frontend.eval()
    with torch.inference_mode():
        fast = brick(speech, lengths)
    assert torch.equal(fast.lengths, reference_out.lengths)
    for i, n in enumerate(fast.lengths.tolist()):
        torch.testing.assert_close(fast.states[i, :n], reference_out.states[i, :n], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fast.states[i, :n], conv_path.states[i, :n], rtol=1e-5, atol=1e-5)


def test_packed_utterances_equal_the_padded_batch():
    """forward_packed over utterances laid one after another (each over its own frames) gives the padded
    batch's outputs on the real frames, and the written-out Transformer-XL score's."""
    attn = _module()
    lengths, total = [9, 4, 1, 7], 9
    x = torch.randn(len(lengths), total, DIM, dtype=torch.float64)
    padding = _padding(lengths, total)
    with torch.no_grad():
        packed = attn.forward_packed(x[~padding], _pos(total), lengths)
        padded = attn(x, _pos(total), padding)
    torch.testing.assert_close(packed, padded[~padding], rtol=0, atol=1e-12)
    torch.testing.assert_close(packed, reference(attn, x, padding)[~padding])

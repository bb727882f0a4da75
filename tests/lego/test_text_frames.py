"""An interface brick trained on text can see its sentences as CTC-like frames (``text_frames_per_token``):
the frames collapse back to the sentence, their number per token is as asked, the same seed draws the same
frames, evaluation spreads them evenly (no randomness), and marginals from an upstream brick are read as
they are."""

import pytest
import torch

from legokit.data.vocab import VocabularyInfo
from legokit.errors import LegokitError
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.interface import corrupt_tokens, tokens_as_frames
from legokit.nn.config import EncoderConfig

VOCAB = VocabularyInfo(40, blank=0, pad=0, unk=1, bos=2, eos=3)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 30, (64,), generator=gen)
    tokens = torch.randint(4, 40, (64, int(lengths.max())), generator=gen)
    tokens[torch.arange(tokens.size(1))[None, :] >= lengths[:, None]] = 0  # padding
    return tokens, lengths


def test_frames_collapse_to_the_tokens_and_blank_the_rest():
    tokens, lengths = _batch()
    torch.manual_seed(1)
    frames, frame_lengths = tokens_as_frames(tokens, lengths, 2.5, blank=0)
    assert frames.shape == (64, int(frame_lengths.max()))
    for row, n, toks, k in zip(frames, frame_lengths, tokens, lengths):
        assert row[:n][row[:n] != 0].tolist() == toks[:k].tolist()  # one peak per token, in order
        assert not row[n:].any()  # past its length: blank
        assert n >= k


def test_frames_per_token_is_the_mean_asked_for():
    tokens, lengths = _batch()
    torch.manual_seed(2)
    ratios = []
    for _ in range(20):
        _, frame_lengths = tokens_as_frames(tokens, lengths, 1.6, blank=0)
        ratios.append(frame_lengths.sum().item() / lengths.sum().item())
    mean = sum(ratios) / len(ratios)
    # tokens: 1 + Poisson(0.6) frames each; plus a Poisson(1.6) lead per sentence (~15 tokens): ~1.7
    assert 1.6 < mean < 1.8, mean
    frames, frame_lengths = tokens_as_frames(tokens, lengths, 1.0, blank=0)  # no blank runs: the lead only
    assert all(int(n) - int(k) == int((row[:n] == 0).sum()) for row, n, k in zip(frames, frame_lengths, lengths))


def test_the_same_seed_draws_the_same_frames():
    tokens, lengths = _batch()
    torch.manual_seed(3)
    a = tokens_as_frames(tokens, lengths, 2.0, blank=0)
    torch.manual_seed(3)
    b = tokens_as_frames(tokens, lengths, 2.0, blank=0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_even_frames_have_the_same_mean_and_collapse_to_the_tokens():
    tokens, lengths = _batch()
    frames, frame_lengths = tokens_as_frames(tokens, lengths, 1.6, blank=0, random=False)
    for row, n, toks, k in zip(frames, frame_lengths, tokens, lengths):
        assert row[:n][row[:n] != 0].tolist() == toks[:k].tolist()
        assert int(n) == 1 + int(k) + int(0.6 * int(k) + 1e-9)  # lead floor(1.6) + tokens + floor(0.6 k) blanks
    again = tokens_as_frames(tokens, lengths, 1.6, blank=0, random=False)
    assert torch.equal(frames, again[0])


def test_training_draws_frames_evaluation_spreads_them_evenly():
    cfg = EncoderBrickConfig(input="interface", text_frames_per_token=3.0,
                             encoder=EncoderConfig(kind="transformer", num_layers=1, dim=16, num_heads=2, ffn_dim=32,
                                                   dropout=0.0))
    cfg.ingestor.num_layers, cfg.ingestor.dropout = 0, 0.0
    brick = EncoderBrick(cfg, input_vocab_size=40, output_vocab_size=7, input_vocab=VOCAB)
    tokens, lengths = _batch()
    torch.manual_seed(4)
    trained = brick.train()(tokens, lengths)
    assert (trained.lengths > lengths).all() and trained.logits.size(1) == int(trained.lengths.max())
    evaluated = brick.eval()(tokens, lengths)
    assert torch.equal(evaluated.lengths, tokens_as_frames(tokens, lengths, 3.0, blank=0, random=False)[1])
    marginals = torch.softmax(torch.randn(64, tokens.size(1), 40), dim=-1)  # an upstream brick's interface
    assert torch.equal(brick.eval()(marginals, lengths).lengths, lengths)
    # gradients reach the ingestor through the spread-out one-hot input
    brick.train()(tokens, lengths).logits.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in brick.frontend.parameters())


def test_corrupted_tokens_are_substituted_or_dropped_at_the_rate_asked_for():
    tokens, lengths = _batch()
    valid = torch.arange(tokens.size(1))[None, :] < lengths[:, None]
    torch.manual_seed(5)
    out = corrupt_tokens(tokens, lengths, 0.2, VOCAB)
    changed = (out != tokens) & valid
    dropped = changed & (out == 0)
    assert torch.equal(out[~valid], tokens[~valid])  # padding untouched
    assert 0.15 < changed.sum() / valid.sum() < 0.22  # substitutions to the same id do not show
    assert 0.08 < dropped.sum() / valid.sum() < 0.12  # half of the errors: dropped (blank)
    assert ((out[changed & ~dropped] >= 4) & (out[changed & ~dropped] < 40)).all()  # never a special id
    assert torch.equal(corrupt_tokens(tokens, lengths, 0.0, VOCAB), tokens)


def test_only_training_corrupts_the_input():
    cfg = EncoderBrickConfig(input="interface", text_token_errors=0.5,
                             encoder=EncoderConfig(kind="transformer", num_layers=1, dim=16, num_heads=2, ffn_dim=32,
                                                   dropout=0.0))
    cfg.ingestor.num_layers, cfg.ingestor.dropout = 0, 0.0
    brick = EncoderBrick(cfg, input_vocab_size=40, output_vocab_size=7, input_vocab=VOCAB).eval()
    tokens, lengths = _batch()
    torch.testing.assert_close(brick(tokens, lengths).logits, brick(tokens, lengths).logits)
    brick.train()
    torch.manual_seed(6)
    noisy = brick(tokens, lengths).logits
    assert not torch.allclose(noisy, brick.eval()(tokens, lengths).logits)


def test_a_brick_without_its_input_ids_refuses_the_text_options():
    cfg = EncoderBrickConfig(input="interface", text_frames_per_token=1.6,
                             encoder=EncoderConfig(kind="transformer", num_layers=1, dim=16, num_heads=2, ffn_dim=32))
    brick = EncoderBrick(cfg, input_vocab_size=40, output_vocab_size=7)  # no input_vocab
    tokens, lengths = _batch()
    with pytest.raises(LegokitError, match="text_frames_per_token"):
        brick(tokens, lengths)

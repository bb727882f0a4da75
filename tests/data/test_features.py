import json

import numpy as np
import pytest
import torch
from helpers.datagen import tone

from legokit.data.features import CMVNStats, FbankConfig, GlobalCMVN, TorchFbank, compute_fbank


@pytest.mark.parametrize("signal", ["noise", "tone", "quiet"])
def test_torch_fbank_matches_kaldi_native_fbank(signal):
    rng = np.random.default_rng(0)
    x = {"noise": 0.1 * rng.standard_normal(12345), "tone": tone(0.8, 1234.0),
         "quiet": 1e-4 * rng.standard_normal(4000)}[signal].astype(np.float32)
    cfg = FbankConfig()
    ref = compute_fbank(x, cfg)
    ours, lengths = TorchFbank(cfg)(torch.from_numpy(x))
    assert ref.shape == (cfg.num_frames(x.size), 80) == tuple(ours.shape[1:])
    assert lengths.tolist() == [ref.shape[0]]
    np.testing.assert_allclose(ours[0].numpy(), ref, atol=1e-3)  # measured: ~2e-4


def test_torch_fbank_batch_equals_single_and_zero_pads():
    cfg = FbankConfig(num_mel_bins=40, sample_rate=8000)
    a, b = tone(0.5, 300.0, 8000), tone(0.3, 900.0, 8000, seed=1)
    wav = torch.zeros(2, a.size)
    wav[0], wav[1, : b.size] = torch.from_numpy(a), torch.from_numpy(b)
    fbank = TorchFbank(cfg)
    feats, lengths = fbank(wav, torch.tensor([a.size, b.size]))
    assert lengths.tolist() == [cfg.num_frames(a.size), cfg.num_frames(b.size)]
    single, _ = fbank(torch.from_numpy(b))
    torch.testing.assert_close(feats[1, : lengths[1]], single[0], atol=1e-4, rtol=0)
    assert feats[1, lengths[1]:].abs().sum() == 0


def test_tone_peaks_in_the_right_mel_bin():
    cfg = FbankConfig()
    feats = compute_fbank(tone(0.5, 1000.0), cfg)
    mel = lambda f: 1127 * np.log(1 + f / 700)  # noqa: E731  (Kaldi's mel scale)
    edges = np.linspace(mel(cfg.low_freq), mel(cfg.sample_rate / 2), cfg.num_mel_bins + 2)
    expected = np.abs(edges[1:-1] - mel(1000.0)).argmin()
    assert abs(int(feats.mean(axis=0).argmax()) - expected) <= 1


def test_torch_fbank_is_differentiable():
    wav = torch.from_numpy(tone(0.2)).requires_grad_()
    feats, _ = TorchFbank(FbankConfig())(wav)
    feats.sum().backward()
    assert wav.grad is not None and torch.isfinite(wav.grad).all() and wav.grad.abs().sum() > 0


def test_cmvn_stats_match_numpy(tmp_path):
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, size=(n, 5)).astype(np.float32) for n in (7, 13, 1)]
    stats, other = CMVNStats(5), CMVNStats(5)
    stats.accumulate(chunks[0])
    for c in chunks[1:]:
        other.accumulate(c)
    stats.merge(other)
    everything = np.concatenate(chunks).astype(np.float64)
    mean, std = stats.mean_std()
    np.testing.assert_allclose(mean, everything.mean(0), rtol=1e-10)
    np.testing.assert_allclose(std, everything.std(0), rtol=1e-8)
    for name in ("cmvn.json", "cmvn.npz"):
        stats.save(tmp_path / name)
        np.testing.assert_allclose(CMVNStats.load(tmp_path / name).mean_std()[1], std, rtol=1e-12)
    assert json.loads((tmp_path / "cmvn.json").read_text())["count"] == 21
    normed = GlobalCMVN.from_file(tmp_path / "cmvn.json")(torch.from_numpy(everything).float())
    torch.testing.assert_close(normed.mean(0), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(normed.std(0, unbiased=False), torch.ones(5), atol=1e-5, rtol=0)


def test_bad_cmvn_file(tmp_path):
    from legokit.errors import LegokitError

    (tmp_path / "c.json").write_text('{"mean": [1]}')
    with pytest.raises(LegokitError, match="c.json: not a CMVN stats file"):
        CMVNStats.load(tmp_path / "c.json")
    with pytest.raises(LegokitError, match="empty"):
        CMVNStats(3).mean_std()

import torch

from legokit.data.specaug import SpecAugConfig, SpecAugment, time_warp


def _ones(lengths):
    x = torch.zeros(len(lengths), max(lengths), 20)
    for i, n in enumerate(lengths):
        x[i, :n] = 1.0
    return x, torch.tensor(lengths)


def test_identity_in_eval_mode():
    x, lengths = _ones([30, 20])
    assert SpecAugment(SpecAugConfig()).eval()(x, lengths) is x


def test_masks_respect_widths_and_lengths():
    cfg = SpecAugConfig(num_freq_masks=1, freq_mask_width=4, num_time_masks=1, time_mask_width=6,
                        time_mask_ratio=0.2)
    aug = SpecAugment(cfg).train()
    for _ in range(50):
        x, lengths = _ones([50, 20, 10])
        y = aug(x, lengths)
        assert set(y.unique().tolist()) <= {0.0, 1.0}
        for i, n in enumerate(lengths.tolist()):
            valid = y[i, :n]
            masked_bins = (valid == 0).all(dim=0).sum()
            masked_frames = (valid == 0).all(dim=1).sum()
            assert masked_bins <= 4 or masked_frames == n
            assert masked_frames <= min(6, int(0.2 * n)) or masked_bins == 20
        assert y[1, 20:].abs().sum() == 0


def test_masks_do_mask_something():
    x, lengths = _ones([100] * 8)
    y = SpecAugment(SpecAugConfig()).train()(x, lengths)
    assert 0 < (y == 0).float().mean() < 0.9


def test_time_warp_keeps_shape_and_padding():
    x = torch.arange(60.0).repeat(2, 1).unsqueeze(-1).expand(2, 60, 3).clone()
    x[1, 40:] = 0
    lengths = torch.tensor([60, 40])
    y = time_warp(x, lengths, window=5)
    assert y.shape == x.shape and y[1, 40:].abs().sum() == 0
    # a warp is a monotone resampling of a ramp: still non-decreasing, same end points within a frame
    assert (y[0, 1:, 0] - y[0, :-1, 0] >= -1e-5).all()
    assert abs(y[0, 0, 0] - 0) < 1 and abs(y[0, 59, 0] - 59) < 1

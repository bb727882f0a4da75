import pytest
import torch

from legokit.config import load_config
from legokit.data.specaug import SpecAugConfig, SpecAugment, time_warp
from legokit.errors import LegokitError


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


def test_random_gain_is_what_scaling_the_waveform_does_to_fbank():
    """A gain of g dB on the waveform moves Kaldi log-power mel features by g * ln(10) / 10 in every bin:
    random_gain draws one g per utterance in [-max_db, max_db] and leaves the padding alone."""
    import numpy as np

    from legokit.data.fbank_config import FbankConfig
    from legokit.data.features import compute_fbank
    from legokit.data.specaug import NATS_PER_DB, random_gain

    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    cfg = FbankConfig()
    base, louder = compute_fbank(wave, cfg), compute_fbank(wave * np.float32(10 ** (6 / 20)), cfg)
    torch.testing.assert_close(torch.from_numpy(louder - base), torch.full(base.shape, 6 * NATS_PER_DB),
                               atol=1e-3, rtol=0)
    x = torch.zeros(3, 40, 8)
    lengths = torch.tensor([40, 25, 10])
    y = random_gain(x, lengths, 10.0, torch.Generator().manual_seed(0))
    for i, n in enumerate(lengths.tolist()):
        shift = y[i, :n]
        assert torch.all(shift == shift[0, 0]) and 0 < abs(float(shift[0, 0])) <= 10 * NATS_PER_DB
        assert torch.all(y[i, n:] == 0)
    cfg_gain = SpecAugConfig(num_freq_masks=0, num_time_masks=0, gain_db=10.0)
    assert not torch.equal(SpecAugment(cfg_gain).train()(x, lengths), x)
    assert torch.equal(SpecAugment(SpecAugConfig(num_freq_masks=0, num_time_masks=0)).train()(x, lengths), x)


def test_random_equalisation_is_a_smooth_per_utterance_filter_on_fbank():
    """A filter whose gain varies slowly with frequency moves each mel bin of Kaldi log-power features by its
    gain there: random_equalisation adds one curve per utterance (constant in time), piecewise linear through
    `points` gains within [-max_db, max_db] dB, and leaves the padding alone; eq_points=2 is a tilt."""
    from legokit.data.specaug import NATS_PER_DB, random_equalisation

    x, lengths = torch.zeros(3, 40, 80), torch.tensor([40, 25, 10])
    y = random_equalisation(x, lengths, 12.0, 4, torch.Generator().manual_seed(0))
    for i, n in enumerate(lengths.tolist()):
        curve = y[i, 0]
        assert torch.equal(y[i, :n], curve.expand(n, 80)) and torch.all(y[i, n:] == 0)
        assert curve.abs().max() <= 12 * NATS_PER_DB + 1e-6 and curve.std() > 0
        second = (curve[1:-1] * 2 - curve[:-2] - curve[2:]).abs()  # bins 1..78
        kinks = [25, 26, 51, 52]  # bins 26, 27, 52, 53 flank the inner control points at 79/3 and 2 * 79/3
        assert second[[j for j in range(78) if j not in kinks]].max() < 1e-5  # linear between control points
        assert second[kinks].max() > 1e-4  # and bent at them
    assert not torch.equal(y[0, 0], y[1, 0])  # one curve per utterance
    tilt = random_equalisation(x, lengths, 6.0, 2, torch.Generator().manual_seed(1))[0, 0]
    torch.testing.assert_close(tilt[1:] - tilt[:-1], (tilt[1] - tilt[0]).expand(79), atol=1e-6, rtol=0)
    cfg = SpecAugConfig(num_freq_masks=0, num_time_masks=0, eq_db=6.0)
    assert not torch.equal(SpecAugment(cfg).train()(x, lengths), x)
    assert torch.equal(SpecAugment(cfg).eval()(x, lengths), x)


@pytest.mark.parametrize("override, interval", [
    ("gain_db=-3", r"\[0, inf\)"),
    ("eq_db=-1", r"\[0, inf\)"),
    ("eq_points=1", r"\[2, inf\)"),
    ("num_freq_masks=-1", r"\[0, inf\)"),
    ("freq_mask_width=-2", r"\[0, inf\)"),
    ("num_time_masks=-1", r"\[0, inf\)"),
    ("time_mask_width=-5", r"\[0, inf\)"),
    ("time_mask_ratio=1.5", r"\[0, 1\]"),
    ("time_mask_ratio=-0.1", r"\[0, 1\]"),
    ("time_warp=-1", r"\[0, inf\)"),
])
def test_a_value_out_of_range_names_the_dotted_key_and_the_range(override: str, interval: str) -> None:
    """A negative gain used to switch the gain off silently, a negative width to mask nothing: refused now."""
    from legokit.workflows.experiment import ExperimentConfig

    key, value = override.split("=")
    with pytest.raises(LegokitError, match=rf"command line: key 'data.specaug.{key}' must be in {interval}, "
                                           rf"got {value}"):
        load_config(ExperimentConfig, None, ["data.task=asr", f"data.specaug.{override}"])
    with pytest.raises(LegokitError, match=rf"key '{key}' must be in {interval}"):
        SpecAugment(SpecAugConfig(**{key: float(value)}))  # the Python API refuses it as well


def test_range_ends_are_accepted_and_a_yaml_error_names_the_file(tmp_path) -> None:
    from legokit.workflows.experiment import ExperimentConfig

    ends = ["data.specaug.gain_db=0", "data.specaug.time_mask_ratio=0", "data.specaug.num_time_masks=0",
            "data.specaug.freq_mask_width=0", "data.specaug.time_warp=0"]
    spec = load_config(ExperimentConfig, None, ends).data.specaug
    assert (spec.gain_db, spec.time_mask_ratio, spec.num_time_masks) == (0.0, 0.0, 0)
    assert load_config(ExperimentConfig, None, ["data.specaug.time_mask_ratio=1"]).data.specaug.time_mask_ratio == 1
    conf = tmp_path / "train.yaml"
    conf.write_text("data:\n  specaug: {num_freq_masks: 2, gain_db: -12}\n")
    with pytest.raises(LegokitError, match=rf"{conf}: key 'data.specaug.gain_db' must be in \[0, inf\), got -12.0"):
        load_config(ExperimentConfig, conf)

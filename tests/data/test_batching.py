import logging

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from legokit.data.batching import BucketBatchSampler, SpeechCollator, collate_text
from legokit.data.specaug import SpecAugConfig, SpecAugment
from legokit.errors import LegokitError

LENGTHS = np.random.default_rng(0).integers(1, 200, size=500).tolist()


def _flat(batches):
    return sorted(i for b in batches for i in b)


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 100), min_size=1, max_size=200), max_tokens=st.integers(100, 1000),
       max_batch_size=st.integers(1, 50), seed=st.integers(0, 5))
def test_budget_respected_and_every_sample_once(lengths, max_tokens, max_batch_size, seed):
    sampler = BucketBatchSampler(lengths, max_tokens, max_batch_size, seed=seed)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert _flat(batches) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= max_batch_size and len(b) * max(lengths[i] for i in b) <= max_tokens


def test_buckets_group_similar_lengths():
    batches = list(BucketBatchSampler(LENGTHS, 2000, seed=0))
    spread = np.mean([max(LENGTHS[i] for i in b) - min(LENGTHS[i] for i in b) for b in batches])
    assert spread < 15  # ~200 / #batches; random batches of this data would spread ~ 150


def test_deterministic_given_seed_and_epoch():
    a, b = BucketBatchSampler(LENGTHS, 1000, seed=3), BucketBatchSampler(LENGTHS, 1000, seed=3)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(BucketBatchSampler(LENGTHS, 1000, seed=4)) != list(BucketBatchSampler(LENGTHS, 1000, seed=3))


def test_no_shuffle_is_sorted():
    batches = list(BucketBatchSampler(LENGTHS, 1000, shuffle=False))
    order = [LENGTHS[i] for b in batches for i in b]
    assert order == sorted(LENGTHS)


@pytest.mark.parametrize("world_size", [2, 3, 7])
@pytest.mark.parametrize("drop_last", [False, True])
def test_ddp_equal_share_per_rank(world_size, drop_last):
    full = list(BucketBatchSampler(LENGTHS, 700, seed=1))
    per_rank = [list(BucketBatchSampler(LENGTHS, 700, seed=1, rank=r, world_size=world_size,
                                        drop_last=drop_last)) for r in range(world_size)]
    counts = {len(p) for p in per_rank}
    assert len(counts) == 1
    count = counts.pop()
    assert count == (len(full) // world_size if drop_last else -(-len(full) // world_size))
    seen = {tuple(b) for p in per_rank for b in p}
    if drop_last:  # a subset of the batches, none repeated
        assert seen <= {tuple(b) for b in full} and len(seen) == count * world_size
    else:  # all batches, some repeated to even out the ranks
        assert seen == {tuple(b) for b in full}


def test_over_long_samples_are_dropped_with_warning(caplog):
    with caplog.at_level(logging.WARNING):
        sampler = BucketBatchSampler([5, 500, 7, 60], max_tokens=100, max_length=50)
    assert sampler.num_dropped == 2 and _flat(list(sampler)) == [0, 2]
    assert "dropping 2 of 4 samples longer than 50" in caplog.text


def test_speech_collate():
    samples = [{"id": "a", "speech": torch.ones(5, 3), "target": torch.tensor([4, 5])},
               {"id": "b", "speech": torch.ones(2, 3), "target": torch.tensor([6, 7, 8])}]
    batch = SpeechCollator()(samples)
    assert batch["ids"] == ["a", "b"]
    assert batch["speech"].shape == (2, 5, 3) and batch["speech"].dtype == torch.float32
    assert batch["speech_lengths"].tolist() == [5, 2] and batch["speech_lengths"].dtype == torch.long
    assert batch["speech"][1, 2:].abs().sum() == 0
    assert batch["target"].tolist() == [[4, 5, 0], [6, 7, 8]] and batch["target_lengths"].tolist() == [2, 3]
    augmented = SpeechCollator(SpecAugment(SpecAugConfig(freq_mask_width=2, num_time_masks=0)))(samples)
    assert (augmented["speech"] == 0).any() and augmented["target"].equal(batch["target"])


def test_text_collate():
    batch = collate_text([{"id": "x", "source": torch.tensor([9]), "target": torch.tensor([4, 5, 6])},
                          {"id": "y", "source": torch.tensor([7, 8]), "target": torch.tensor([5])}])
    assert batch["source"].tolist() == [[9, 0], [7, 8]] and batch["source_lengths"].tolist() == [1, 2]
    assert batch["target"].tolist() == [[4, 5, 6], [5, 0, 0]] and batch["target_lengths"].tolist() == [3, 1]
    assert set(batch) == {"ids", "source", "source_lengths", "target", "target_lengths"}


def test_bad_arguments():
    with pytest.raises(LegokitError, match="max_tokens > 0"):
        BucketBatchSampler([1, 2], max_tokens=0)
    with pytest.raises(LegokitError, match="rank < world_size"):
        BucketBatchSampler([1, 2], max_tokens=10, rank=2, world_size=2)


def test_rank_defaults_to_torch_distributed(tmp_path):
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path}/rdzv", rank=0, world_size=1)
    try:
        sampler = BucketBatchSampler(LENGTHS, 700)
        assert (sampler.rank, sampler.world_size) == (0, 1)
    finally:
        torch.distributed.destroy_process_group()


def test_tie_lengths_order_equal_lengths_and_cut_the_other_sides_padding():
    """MT pairs batched by max(source, target): among equal maxima the target length decides the order, so a
    batch's targets span fewer lengths; the budget and the batches' sample counts are unchanged."""
    rng = np.random.default_rng(0)
    source = rng.integers(20, 31, size=4000)
    target = rng.integers(5, 21, size=4000)  # always the shorter side
    lengths = np.maximum(source, target)

    def target_padding(sampler):
        batches = list(sampler)
        padded = sum(len(b) * target[b].max() for b in batches)
        return 1 - target.sum() / padded, sorted(len(b) for b in batches)

    plain, sizes = target_padding(BucketBatchSampler(lengths, 600, seed=1))
    tied, tied_sizes = target_padding(BucketBatchSampler(lengths, 600, seed=1, tie_lengths=target))
    assert tied_sizes == sizes and tied < plain / 2
    batch = next(iter(BucketBatchSampler(lengths, 600, shuffle=False, tie_lengths=target)))
    assert list(target[batch]) == sorted(target[batch]) and len(set(lengths[batch])) == 1
    with pytest.raises(LegokitError, match="tie_lengths"):
        BucketBatchSampler(lengths, 600, tie_lengths=target[:10])

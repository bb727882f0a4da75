"""MAS against a brute-force search over all monotonic alignments; the length regulator."""

import itertools

import torch

from legokit.tts.alignment import durations_from_path, length_regulate, maximum_path


def brute_force(value: torch.Tensor) -> float:
    """Best score over every split of T frames into N non-empty consecutive runs."""
    n, t = value.shape
    best = float("-inf")
    for cuts in itertools.combinations(range(1, t), n - 1):
        bounds = (0, *cuts, t)
        best = max(best, sum(float(value[i, bounds[i]:bounds[i + 1]].sum()) for i in range(n)))
    return best


def test_mas_matches_brute_force_on_a_padded_batch():
    torch.manual_seed(3)
    value = torch.randn(6, 4, 8)
    text = torch.tensor([4, 3, 1, 2, 4, 4])
    mel = torch.tensor([8, 5, 3, 8, 4, 6])
    path = maximum_path(value, text, mel)
    for b in range(6):
        n, t = int(text[b]), int(mel[b])
        p = path[b]
        assert p[n:].sum() == 0 and p[:, t:].sum() == 0  # nothing outside the lengths
        assert torch.equal(p[:n, :t].sum(0), torch.ones(t))  # each frame -> exactly one phone
        assert (durations_from_path(p[None])[0, :n] >= 1).all()  # each phone >= 1 frame
        phone_of_frame = p[:n, :t].argmax(0)
        assert (phone_of_frame.diff() >= 0).all() and phone_of_frame[0] == 0 and phone_of_frame[-1] == n - 1
        assert float((p * value[b]).sum()) == torch.tensor(brute_force(value[b, :n, :t])).item() or \
            abs(float((p * value[b]).sum()) - brute_force(value[b, :n, :t])) < 1e-4


def test_mas_follows_an_obvious_alignment():
    # phone i likes frames of block i: durations 2, 3, 1
    target = torch.tensor([0, 0, 1, 1, 1, 2])
    value = torch.full((1, 3, 6), -5.0)
    value[0, target, torch.arange(6)] = 0.0
    path = maximum_path(value, torch.tensor([3]), torch.tensor([6]))
    assert durations_from_path(path).tolist() == [[2, 3, 1]]


def test_length_regulate():
    x = torch.arange(6.0).view(1, 3, 2)
    out, lengths = length_regulate(x, torch.tensor([[2, 0, 3]]), max_len=6)
    assert lengths.tolist() == [5]
    assert out[0].tolist() == [[0, 1], [0, 1], [4, 5], [4, 5], [4, 5], [0, 0]]

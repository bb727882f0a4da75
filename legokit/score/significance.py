"""Paired bootstrap resampling (Koehn, 2004): is system A's score different from system B's beyond what
another test sample of the same size could give?

Each metric is reduced to per-segment sufficient statistics once (ROUGE and METEOR: segment scores, whose
mean is the corpus score; WER and CER: edit and reference counts from jiwer; BLEU and chrF: sacrebleu's own
n-gram statistics), so a resample's corpus score is a sum over drawn rows, exactly what
:mod:`legokit.score.metrics` computes on that sample. ``p`` is the fraction of resamples in which the
difference A − B is zero or has the other sign than on the whole test set (two systems that differ only by
chance give p ≈ 0.5; p < 0.05 is the usual threshold).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import jiwer
import numpy as np

from legokit.errors import LegokitError
from legokit.score.metrics import METRICS, rouge_keys, rouge_segments

Stats = np.ndarray  # (N segments, K statistics)

#: resamples and seed of `legokit score --compare` (its option defaults) and `legokit table reuse`: the same numbers
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 12345
#: the last row of :func:`format_results` when given the systems' missing hypotheses
MISSING_ROW = "missing hypotheses (scored as empty)"


@dataclass
class PairedResult:
    """One metric key (e.g. "rouge1") of system A vs B: corpus scores, their difference with its 95%
    bootstrap interval, and the p-value."""

    metric: str
    a: float
    b: float
    delta: float
    ci_low: float
    ci_high: float
    p: float
    samples: int = 0  # bootstrap resamples behind p (0: unknown)

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)

    @property
    def p_text(self) -> str:
        """p for a table: "< 1/samples" when no resample flipped the sign (p = 0 only says p < 1/samples)."""
        if self.p == 0 and self.samples > 0:
            return f"< {1 / self.samples:.3g}"
        return f"{self.p:.3f}"


def _rouge_stats(refs: Sequence[str], hyps: Sequence[str]) -> Stats:
    return np.array(rouge_segments(refs, hyps))


def _meteor_stats(refs: Sequence[str], hyps: Sequence[str]) -> Stats:
    from legokit.score.meteor import meteor_segments

    return np.array(meteor_segments(refs, hyps))[:, None]


def _edit_stats(process: Callable) -> Callable[[Sequence[str], Sequence[str]], Stats]:
    def stats(refs: Sequence[str], hyps: Sequence[str]) -> Stats:
        rows = []
        for ref, hyp in zip(refs, hyps):
            out = process(ref, hyp)
            rows.append([out.substitutions + out.deletions + out.insertions,
                         out.substitutions + out.deletions + out.hits])
        return np.array(rows, dtype=np.float64)
    return stats


def _sacrebleu_stats(make: Callable) -> Callable[[Sequence[str], Sequence[str]], Stats]:
    def stats(refs: Sequence[str], hyps: Sequence[str]) -> Stats:
        return np.array(make()._extract_corpus_statistics(list(hyps), [list(refs)]), dtype=np.float64)
    return stats


@functools.cache
def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize="13a")


@functools.cache
def _chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


#: metric -> (per-segment statistics, corpus scores {key: value} from the statistics summed over segments
#: and the number of segments)
_REDUCIBLE: dict[str, tuple[Callable, Callable[[np.ndarray, int], dict[str, float]]]] = {
    "rouge": (_rouge_stats, lambda t, n: {k: 100.0 * v / max(n, 1) for k, v in zip(rouge_keys(), t)}),
    "rouge_nostem": (lambda refs, hyps: np.array(rouge_segments(refs, hyps, stem=False)),
                     lambda t, n: {k: 100.0 * v / max(n, 1) for k, v in zip(rouge_keys(stem=False), t)}),
    "meteor": (_meteor_stats, lambda t, n: {"meteor": 100.0 * t[0] / max(n, 1)}),
    "wer": (_edit_stats(jiwer.process_words), lambda t, n: {"wer": 100.0 * t[0] / max(t[1], 1)}),
    "cer": (_edit_stats(jiwer.process_characters), lambda t, n: {"cer": 100.0 * t[0] / max(t[1], 1)}),
    "bleu": (_sacrebleu_stats(_bleu), lambda t, n: {"bleu": _bleu()._compute_score_from_stats(t.tolist()).score}),
    "chrf": (_sacrebleu_stats(_chrf), lambda t, n: {"chrf": _chrf()._compute_score_from_stats(t.tolist()).score}),
}
assert set(_REDUCIBLE) == set(METRICS), "every metric needs its bootstrap statistics"


def paired_bootstrap(refs: Sequence[str], hyps_a: Sequence[str], hyps_b: Sequence[str], names: Sequence[str],
                     num_samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> list[PairedResult]:
    """Paired bootstrap of systems A and B on the same references, one result per metric key.

    Every resample draws N segment indices with replacement and scores both systems on the same draw.
    """
    if not len(refs) == len(hyps_a) == len(hyps_b):
        raise LegokitError(f"paired bootstrap needs one hypothesis of each system per reference, got "
                           f"{len(refs)} references, {len(hyps_a)} and {len(hyps_b)} hypotheses")
    results = []
    for name in names:
        if name not in _REDUCIBLE:
            raise LegokitError(f"no bootstrap statistics for metric {name!r}; choose from {', '.join(_REDUCIBLE)}")
        segment_stats, corpus_score = _REDUCIBLE[name]
        results += bootstrap_statistics(segment_stats(refs, hyps_a), segment_stats(refs, hyps_b), corpus_score,
                                        num_samples, seed)
    return results


def paired_bootstrap_means(scores_a: dict[str, Sequence[float]], scores_b: dict[str, Sequence[float]],
                           num_samples: int = 1000, seed: int = 12345) -> list[PairedResult]:
    """Paired bootstrap of per-segment scores whose corpus score is their mean (e.g. predicted MOS per
    utterance): {key: N scores} of A and of B, segment i of A paired with segment i of B."""
    if list(scores_a) != list(scores_b):
        raise LegokitError(f"systems A and B have different score keys: {list(scores_a)} vs {list(scores_b)}")
    keys = list(scores_a)
    stats_a = np.array([scores_a[k] for k in keys], dtype=np.float64).T.reshape(-1, len(keys))
    stats_b = np.array([scores_b[k] for k in keys], dtype=np.float64).T.reshape(-1, len(keys))
    if stats_a.shape != stats_b.shape:
        raise LegokitError(f"paired bootstrap needs one score of each system per segment, got "
                           f"{len(stats_a)} and {len(stats_b)}")
    return bootstrap_statistics(stats_a, stats_b, lambda t, n: {k: t[i] / max(n, 1) for i, k in enumerate(keys)},
                                num_samples, seed)


def bootstrap_statistics(stats_a: Stats, stats_b: Stats, corpus_score: Callable[[np.ndarray, int], dict[str, float]],
                         num_samples: int = 1000, seed: int = 12345) -> list[PairedResult]:
    """The bootstrap itself: per-segment statistics (N, K) of A and B, and the corpus scores {key: value} of
    statistics summed over a sample of n segments. One result per key."""
    n = len(stats_a)
    if n == 0:
        raise LegokitError("paired bootstrap of an empty test set")
    if num_samples < 1:
        raise LegokitError(f"--bootstrap-samples must be >= 1, got {num_samples}")
    draws = np.random.default_rng(seed).integers(0, n, size=(num_samples, n))
    counts = np.stack([np.bincount(row, minlength=n) for row in draws]).astype(np.float64)  # (S, N)
    full_a, full_b = corpus_score(stats_a.sum(0), n), corpus_score(stats_b.sum(0), n)
    sampled_a = [corpus_score(total, n) for total in counts @ stats_a]
    sampled_b = [corpus_score(total, n) for total in counts @ stats_b]
    results = []
    for key in full_a:
        delta = full_a[key] - full_b[key]
        deltas = np.array([sa[key] - sb[key] for sa, sb in zip(sampled_a, sampled_b)])
        flipped = deltas <= 0 if delta > 0 else deltas >= 0 if delta < 0 else np.ones_like(deltas, dtype=bool)
        low, high = np.percentile(deltas, [2.5, 97.5])
        results.append(PairedResult(key, float(full_a[key]), float(full_b[key]), float(delta), float(low),
                                    float(high), float(flipped.mean()), num_samples))
    return results


def format_results(results: Sequence[PairedResult], name_a: str = "A", name_b: str = "B",
                   missing: tuple[int, int] | None = None) -> str:
    """A markdown table: metric, A, B, A − B with its 95% bootstrap interval, p. With ``missing`` (A's and B's
    numbers of reference ids without a hypothesis, scored as empty), a last row gives them under A and B."""
    lines = [f"| metric | {name_a} | {name_b} | {name_a} − {name_b} | 95% interval | p |",
             "|---|---:|---:|---:|---|---:|"]
    for r in results:
        interval = f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
        lines.append(f"| {r.metric} | {r.a:.2f} | {r.b:.2f} | {r.delta:+.2f} | {interval} | {r.p_text} |")
    if missing is not None:
        lines.append(f"| {MISSING_ROW} | {missing[0]} | {missing[1]} | | | |")
    return "\n".join(lines) + "\n"

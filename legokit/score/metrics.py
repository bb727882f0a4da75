"""Corpus-level metrics, each computed by the library that defines it.

Every function takes parallel lists of reference and hypothesis strings (one segment each) and
returns percentages: BLEU and chrF from sacrebleu (corpus scores, 0-100), WER/CER from jiwer (total
edits / total reference words or characters, ×100), ROUGE F-measures from rouge-score (Porter
stemming, mean over segments, ×100; ``rouge_nostem`` without stemming, as ESPnet scores How2), METEOR
from nltk over WordNet 3.0 taken from Debian's wordnet-base package (legokit.score.meteor; fetched on
first use, so it is not among the default metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import jiwer
import sacrebleu

from legokit.errors import LegokitError
from legokit.score.io import read_pair

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def bleu(refs: Sequence[str], hyps: Sequence[str], tokenize: str = "13a") -> float:
    """sacrebleu corpus BLEU (default 13a tokenisation, case-sensitive)."""
    return sacrebleu.corpus_bleu(list(hyps), [list(refs)], tokenize=tokenize).score


def chrf(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """sacrebleu corpus chrF (character 6-grams, β = 2)."""
    return sacrebleu.corpus_chrf(list(hyps), [list(refs)]).score


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Word error rate ×100 over the whole corpus (jiwer)."""
    return 100.0 * jiwer.wer(list(refs), list(hyps))


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Character error rate ×100 over the whole corpus (jiwer; spaces count as characters)."""
    return 100.0 * jiwer.cer(list(refs), list(hyps))


def rouge_keys(stem: bool = True) -> list[str]:
    """JSON keys of :func:`rouge`: rouge1, rouge2, rougeL; with a ``_nostem`` suffix without stemming."""
    return [key if stem else f"{key}_nostem" for key in ROUGE_TYPES]


def rouge(refs: Sequence[str], hyps: Sequence[str], stem: bool = True) -> dict[str, float]:
    """Mean segment ROUGE-1/2/L F-measure ×100 (rouge-score; Porter stemming unless ``stem`` is False).

    ``stem=False`` is what ESPnet's summarisation scoring computes (HuggingFace evaluate's "rouge", whose
    default is no stemming; its bootstrap "mid" value is the mean over segments up to resampling noise).
    rouge-score's tokenizer lower-cases and keeps only [a-z0-9]: it suits English summaries only.
    """
    per_segment = rouge_segments(refs, hyps, stem)
    return {key: 100.0 * sum(row[i] for row in per_segment) / max(len(refs), 1)
            for i, key in enumerate(rouge_keys(stem))}


def rouge_segments(refs: Sequence[str], hyps: Sequence[str], stem: bool = True) -> list[list[float]]:
    """Per segment [ROUGE-1, ROUGE-2, ROUGE-L] F-measures (0-1), as :func:`rouge` averages them."""
    from rouge_score import rouge_scorer  # imports nltk: seconds, so only when ROUGE is asked for

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=stem)
    return [[scores[key].fmeasure for key in ROUGE_TYPES] for scores in map(scorer.score, refs, hyps)]


#: metric name -> function giving {json key: value}
METRICS: dict[str, Callable[[Sequence[str], Sequence[str]], dict[str, float]]] = {
    "bleu": lambda refs, hyps: {"bleu": bleu(refs, hyps)},
    "chrf": lambda refs, hyps: {"chrf": chrf(refs, hyps)},
    "wer": lambda refs, hyps: {"wer": wer(refs, hyps)},
    "cer": lambda refs, hyps: {"cer": cer(refs, hyps)},
    "rouge": rouge,
    "rouge_nostem": lambda refs, hyps: rouge(refs, hyps, stem=False),
    "meteor": lambda refs, hyps: {"meteor": _meteor(refs, hyps)},
}

#: what `legokit score all` computes without --metrics (METEOR needs a one-time 6.5 MB package download;
#: rouge_nostem is the peer's variant of rouge, asked for by name)
DEFAULT_METRICS = [name for name in METRICS if name not in ("meteor", "rouge_nostem")]


def _meteor(refs: Sequence[str], hyps: Sequence[str]) -> float:
    from legokit.score.meteor import meteor

    return meteor(refs, hyps)


def parse_metrics(spec: str) -> list[str]:
    """'bleu,chrf' -> ['bleu', 'chrf'], checking every name."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise LegokitError(f"--metrics {spec!r}: unknown metric(s) {', '.join(unknown) or '(none given)'}; "
                           f"choose from {', '.join(METRICS)}")
    return names


def compute(names: Sequence[str], refs: Sequence[str], hyps: Sequence[str]) -> dict[str, float]:
    """All requested metrics as one {json key: value} dict, e.g. {"bleu": 31.2, "chrf": 58.0}."""
    scores: dict[str, float] = {}
    for name in names:
        scores.update(METRICS[name](refs, hyps))
    return scores


def score_files(ref: str | Path, hyp: str | Path, names: Sequence[str], kaldi: bool = False,
                count_missing: bool = False) -> dict[str, float]:
    """Read a reference and a hypothesis file (see :func:`read_pair`) and compute the metrics.

    With ``count_missing`` (and ``kaldi``), reference ids without a hypothesis are scored as empty
    hypotheses instead of refused, and their number is added as ``"missing"`` when there are any."""
    missing: list[str] | None = [] if count_missing else None
    _, refs, hyps = read_pair(ref, hyp, kaldi=kaldi, missing=missing)
    scores = compute(names, refs, hyps)
    return {**scores, "missing": len(missing)} if missing else scores

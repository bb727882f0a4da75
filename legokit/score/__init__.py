"""legokit.score: metrics (sacrebleu, jiwer, rouge-score), RESULTS.md, long-tail analysis."""

from legokit.score.metrics import bleu, cer, chrf, compute, rouge, score_files, wer

__all__ = ["bleu", "chrf", "wer", "cer", "rouge", "compute", "score_files"]

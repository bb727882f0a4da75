"""legokit.lm: word n-gram language models (interpolated modified Kneser-Ney, ARPA files) for CTC shallow fusion."""

from legokit.lm.ngram import ArpaLM, KneserNey, read_sentences, train_arpa

__all__ = ["ArpaLM", "KneserNey", "read_sentences", "train_arpa"]

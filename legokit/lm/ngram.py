"""Word n-gram language models: interpolated modified Kneser-Ney estimation, ARPA writing and reading.

Estimation follows Chen & Goodman (1998) as KenLM's ``lmplz`` does it (Heafield et al. 2013), without pruning:

* Sentences are padded with one ``<s>`` and one ``</s>``. The highest order keeps raw counts; every lower order
  uses *continuation* counts a(g) = |{v : c(v g) > 0}| (the number of distinct words seen before g), except
  n-grams that start with ``<s>``, which cannot be extended to the left and keep their raw counts.
* Each order n has three discounts D1, D2, D3+ from the count-of-counts t_k of its adjusted counts:
  Y = t1 / (t1 + 2 t2), D_k = k - (k + 1) Y t_{k+1} / t_k. When a count-of-count is 0 or a discount falls
  outside (0, k) (tiny corpora), the order uses lmplz's ``--discount_fallback`` values 0.5, 1.0, 1.5.
* Interpolation, for a context h seen at order n (S(h) = sum_w a(h w) > 0):

      p(w | h) = max(a(h w) - D(a(h w)), 0) / S(h) + gamma(h) p(w | h'),
      gamma(h) = (D1 N1(h) + D2 N2(h) + D3+ N3+(h)) / S(h),

  with h' the context without its first word and N_k(h) the number of words w with a(h w) = k (k = 3: >= 3).
  A context never seen at that order passes p(w | h') through unchanged. Unigrams interpolate with the uniform
  distribution over the vocabulary V (every word, ``</s>`` and ``<unk>``; not ``<s>``, which is never
  predicted), so ``<unk>`` gets gamma(()) / |V| and p(. | h) sums to 1 over V for every context h.

The ARPA file stores, for each n-gram h w with a(h w) > 0, log10 p(w | h) and, for the n-grams that are
contexts of a higher order, log10 gamma: exactly the backoff reading of the interpolated model.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from legokit.errors import LegokitError
from legokit.fileio import atomic_output, iter_text_lines

log = logging.getLogger(__name__)

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
SPECIAL = (BOS, EOS, UNK)
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # lmplz --discount_fallback
LN10 = math.log(10.0)
ARPA_NEG_INF = -99.0  # log10 probability written for <s> (never predicted)


def read_sentences(path: str | Path, kaldi_text: bool = False) -> Iterator[list[str]]:
    """Word lists of a text file (one sentence a line; with ``kaldi_text`` the first field, the id, is dropped),
    in the ASR scoring form (:func:`legokit.corpora.text.asr_normalise`). Empty sentences and the words
    ``<s>``, ``</s>``, ``<unk>`` are left out."""
    from legokit.corpora.text import asr_normalise

    if not Path(path).is_file():
        raise LegokitError(f"{path}: LM training text not found")
    try:
        for line in iter_text_lines(path):
            if kaldi_text:
                parts = line.split(maxsplit=1)
                line = parts[1] if len(parts) == 2 else ""
            words = [w for w in asr_normalise(line).split() if w not in SPECIAL]
            if words:
                yield words
    except UnicodeDecodeError as err:
        raise LegokitError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None


def discounts(adjusted: Iterable[int]) -> tuple[tuple[float, float, float], bool]:
    """Modified Kneser-Ney discounts (D1, D2, D3+) from the adjusted counts of one order -> (discounts, whether
    the fallback (0.5, 1.0, 1.5) was used)."""
    t = Counter(a for a in adjusted if a <= 4)  # count-of-counts t_k: n-grams seen exactly k times
    t1, t2, t3, t4 = (t[k] for k in (1, 2, 3, 4))
    if min(t1, t2, t3, t4) == 0:
        return FALLBACK_DISCOUNTS, True
    y = t1 / (t1 + 2 * t2)
    ds = (1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3)
    if not all(0 < d < k for k, d in enumerate(ds, start=1)):
        return FALLBACK_DISCOUNTS, True
    return ds, False


class KneserNey:
    """An interpolated modified Kneser-Ney n-gram model estimated from word lists (see the module docstring).

    ``prob(word, context)`` is the model's own probability, computed from the counts by the interpolation
    recursion; ``write_arpa`` writes the same model in ARPA format.
    """

    def __init__(self, sentences: Iterable[list[str]], order: int = 3) -> None:
        if order < 1:
            raise LegokitError(f"n-gram order must be >= 1, got {order}")
        self.order = order
        raw: list[Counter] = [Counter() for _ in range(order + 1)]  # raw[n][ngram]
        self.sentences = self.tokens = 0
        for words in sentences:
            padded = (BOS, *words, EOS)
            self.sentences += 1
            self.tokens += len(words) + 1  # </s> is predicted too
            for n in range(1, order + 1):
                counts = raw[n]
                for i in range(len(padded) - n + 1):
                    counts[padded[i:i + n]] += 1
        if not self.sentences:
            raise LegokitError("no sentence to train the LM on (every line was empty after normalisation)")
        # adjusted counts: raw at the highest order and for n-grams starting with <s>; else continuation counts
        self.counts: list[dict[tuple[str, ...], int]] = [{} for _ in range(order + 1)]
        self.counts[order] = dict(raw[order])
        for n in range(order - 1, 0, -1):
            continuation: Counter = Counter(g[1:] for g in raw[n + 1])
            self.counts[n] = {g: (c if g[0] == BOS else continuation[g]) for g, c in raw[n].items()}
        unigrams = {g: a for g, a in self.counts[1].items() if g != (BOS,)}
        self.vocab = sorted({g[0] for g in unigrams} | {UNK})
        self._vocab_set = set(self.vocab)
        self.discounts: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]
        self.fallback: list[bool] = [False]
        for n in range(1, order + 1):
            ds, fell_back = discounts(unigrams.values() if n == 1 else self.counts[n].values())
            self.discounts.append(ds)
            self.fallback.append(fell_back)
        # per context h (a tuple of n - 1 words): S(h) and gamma(h)
        self.total: dict[tuple[str, ...], float] = {}
        self.gamma: dict[tuple[str, ...], float] = {}
        for n in range(1, order + 1):
            d = self.discounts[n]
            sums: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
            for g, a in (unigrams.items() if n == 1 else self.counts[n].items()):
                entry = sums[g[:-1]]
                entry[0] += a
                entry[1] += d[min(a, 3) - 1]
            for h, (total, mass) in sums.items():
                self.total[h] = total
                self.gamma[h] = mass / total
        self._probs: list[dict[tuple[str, ...], float]] | None = None

    def _discounted(self, g: tuple[str, ...]) -> float:
        a = self.counts[len(g)].get(g, 0)
        if a == 0 or g == (BOS,):
            return 0.0
        return max(a - self.discounts[len(g)][min(a, 3) - 1], 0.0) / self.total[g[:-1]]

    def prob(self, word: str, context: Iterable[str] = ()) -> float:
        """p(word | context) of the interpolated model; an unknown word is ``<unk>``, ``<s>`` has probability 0."""
        if word == BOS:
            return 0.0
        word = word if word in self._vocab_set else UNK
        context = tuple(context)[-(self.order - 1):] if self.order > 1 else ()
        context = tuple(w if w in self._vocab_set or w == BOS else UNK for w in context)
        if not context:
            return self._discounted((word,)) + self.gamma[()] / len(self.vocab)
        lower = self.prob(word, context[1:])
        if context not in self.total:
            return lower
        return self._discounted((*context, word)) + self.gamma[context] * lower

    def ngram_probs(self) -> list[dict[tuple[str, ...], float]]:
        """probs[n][g] = p(g[-1] | g[:-1]) for every n-gram g of the model (``<unk>`` among the unigrams)."""
        if self._probs is None:
            probs: list[dict[tuple[str, ...], float]] = [{} for _ in range(self.order + 1)]
            uniform = self.gamma[()] / len(self.vocab)
            probs[1] = {(w,): self._discounted((w,)) + uniform for w in self.vocab}
            for n in range(2, self.order + 1):
                lower = probs[n - 1]
                probs[n] = {g: self._discounted(g) + self.gamma[g[:-1]] * lower[g[1:]] for g in self.counts[n]}
            self._probs = probs
        return self._probs

    def write_arpa(self, path: str | Path) -> dict[str, int]:
        """Write the model as an ARPA file (atomically) -> number of n-grams per order."""
        probs = self.ngram_probs()
        sizes = {n: len(probs[n]) + (n == 1) for n in range(1, self.order + 1)}  # + <s> among the unigrams

        def line(logp: float, g: tuple[str, ...]) -> str:
            bo = self.gamma.get(g) if len(g) < self.order else None
            text = f"{logp:.7f}\t{' '.join(g)}"
            return text + (f"\t{math.log10(bo):.7f}" if bo else "") + "\n"

        with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write("\\data\\\n" + "".join(f"ngram {n}={sizes[n]}\n" for n in sizes) + "\n")
            for n in range(1, self.order + 1):
                f.write(f"\\{n}-grams:\n")
                if n == 1:
                    f.write(line(ARPA_NEG_INF, (BOS,)))
                for g in sorted(probs[n]):
                    f.write(line(math.log10(probs[n][g]), g))
                f.write("\n")
            f.write("\\end\\\n")
        return sizes


def train_arpa(texts: list[str | Path], out: str | Path, order: int = 3, kaldi_text: bool = False) -> KneserNey:
    """Estimate an interpolated modified Kneser-Ney model on ``texts`` (read by :func:`read_sentences`) and
    write it to ``out`` in ARPA format -> the model."""
    def sentences() -> Iterator[list[str]]:
        for path in texts:
            yield from read_sentences(path, kaldi_text=kaldi_text)

    model = KneserNey(sentences(), order=order)
    sizes = model.write_arpa(out)
    for n in range(1, order + 1):
        note = " (fallback: too few n-grams to estimate them)" if model.fallback[n] else ""
        log.info("order %d: %d n-grams, discounts %s%s", n, sizes[n],
                 " ".join(f"{d:.3f}" for d in model.discounts[n]), note)
    log.info("wrote %s: %d sentences, %d words + </s>, vocabulary %d (with </s> and <unk>)", out,
             model.sentences, model.tokens - model.sentences, len(model.vocab))
    return model


class ArpaLM:
    """An ARPA n-gram model held in dictionaries: ``logp(word, context)`` in natural log with the usual backoff
    (p(w | h) = p*(h w) if h w is listed, else bo(h) p(w | h')). Words it does not list are ``<unk>``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise LegokitError(f"{path}: ARPA language model not found")
        self.prob: dict[tuple[str, ...], float] = {}
        self.backoff: dict[tuple[str, ...], float] = {}
        self.order = 0
        section = -1  # -1 before \data\, 0 in \data\, n in \n-grams:
        expected: dict[int, int] = {}
        for number, raw in enumerate(iter_text_lines(self.path), start=1):
            text = raw.strip()
            if not text:
                continue
            if text == "\\data\\":
                section = 0
            elif text == "\\end\\":
                break
            elif text.startswith("\\") and text.endswith("-grams:"):
                try:
                    section = int(text[1:-7])
                except ValueError:
                    raise LegokitError(f"{path}:{number}: bad ARPA section header {text!r}") from None
                self.order = max(self.order, section)
            elif section == 0 and text.startswith("ngram "):
                n, _, count = text[6:].partition("=")
                expected[int(n)] = int(count)
            elif section > 0:
                fields = text.split()
                if len(fields) not in (section + 1, section + 2):
                    raise LegokitError(f"{path}:{number}: expected '<log10 p> <{section} words> [<log10 backoff>]'"
                                       f", got {text[:80]!r}")
                try:
                    g = tuple(fields[1:section + 1])
                    self.prob[g] = float(fields[0]) * LN10
                    if len(fields) == section + 2:
                        self.backoff[g] = float(fields[-1]) * LN10
                except ValueError:
                    raise LegokitError(f"{path}:{number}: not a number in {text[:80]!r}") from None
            elif section == -1:
                continue  # text before \data\ is a comment in ARPA files
        if section == -1 or not self.order:
            raise LegokitError(f"{path}: not an ARPA file (no \\data\\ section with n-grams)")
        self.vocab = {g[0] for g in self.prob if len(g) == 1}
        if UNK not in self.vocab:
            self.prob[(UNK,)] = ARPA_NEG_INF * LN10
            self.vocab.add(UNK)
        self._cache: dict[tuple[tuple[str, ...], str], float] = {}

    def logp(self, word: str, context: tuple[str, ...] = ()) -> float:
        """ln p(word | context); context is the preceding words (``<s>`` first at a sentence start)."""
        key = (context, word)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        w = word if word in self.vocab else UNK
        h = context[max(len(context) - self.order + 1, 0):] if self.order > 1 else ()
        backoff = 0.0
        while True:
            p = self.prob.get((*h, w))
            if p is not None:
                break
            backoff += self.backoff.get(h, 0.0)
            h = h[1:]
        value = backoff + p
        if len(self._cache) < 2_000_000:
            self._cache[key] = value
        return value

    def state(self, context: tuple[str, ...]) -> tuple[str, ...]:
        """The part of ``context`` that can matter for the next word: its last order - 1 words."""
        return context[max(len(context) - self.order + 1, 0):] if self.order > 1 else ()

    def score_sentence(self, words: list[str], with_end: bool = True) -> float:
        """ln p of a sentence given ``<s>`` (and ending in ``</s>`` with ``with_end``)."""
        context, total = self.state((BOS,)), 0.0
        for word in [*words, EOS] if with_end else words:
            total += self.logp(word, context)
            context = self.state((*context, word))
        return total

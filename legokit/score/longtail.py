"""Long-tail analysis: token F-measure bucketed by training-set frequency (Raunak et al. 2020, Sec. 3).

As compare-mt's bucketed word F-measure: in every sentence a token type is matched
min(#hyp, #ref) times; matched, reference and hypothesis counts are summed over the corpus per
bucket of the type's frequency in the training targets; precision = matched / hyp, recall =
matched / ref, F = 2PR / (P + R) (0 when a count is 0). The per-bucket reference and hypothesis
counts also give the frequency distribution of generated vs reference tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from legokit.errors import LegokitError
from legokit.fileio import atomic_output

DEFAULT_BUCKETS = "1,2,3,4,5-9,10-99,100-999,1000+"
Tokenizer = Callable[[str], list[str]]


@dataclass(frozen=True)
class Bucket:
    """Training frequencies low..high inclusive (high None: no upper bound)."""

    low: int
    high: int | None

    @property
    def name(self) -> str:
        if self.high is None:
            return f"{self.low}+"
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"

    def __contains__(self, freq: int) -> bool:
        return self.low <= freq and (self.high is None or freq <= self.high)


def _parse_bucket(item: str, spec: str) -> Bucket:
    try:
        if item.endswith("+"):
            return Bucket(int(item[:-1]), None)
        low, _, high = item.partition("-")
        return Bucket(int(low), int(high or low))
    except ValueError:
        raise LegokitError(f"--buckets {spec!r}: cannot read {item!r}; expected N, A-B or N+") from None


def parse_buckets(spec: str = DEFAULT_BUCKETS) -> list[Bucket]:
    """'1,2,5-9,10+' -> contiguous buckets, with frequency 0 (unseen in training) and an open last
    bucket added when the spec leaves them out."""
    buckets = [_parse_bucket(item.strip(), spec) for item in spec.split(",") if item.strip()]
    if not buckets:
        raise LegokitError(f"--buckets {spec!r}: no buckets given")
    for prev, cur in zip(buckets, buckets[1:]):
        if prev.high is None or cur.low != prev.high + 1:
            raise LegokitError(f"--buckets {spec!r}: {prev.name} and {cur.name} are not contiguous; "
                               "give ascending ranges without gaps, e.g. 1,2,3-9,10+")
    if any(b.high is not None and b.high < b.low for b in buckets) or buckets[0].low < 0:
        raise LegokitError(f"--buckets {spec!r}: ranges must be A-B with 0 <= A <= B")
    if buckets[0].low > 0:
        buckets.insert(0, Bucket(0, buckets[0].low - 1))
    if buckets[-1].high is not None:
        buckets.append(Bucket(buckets[-1].high + 1, None))
    return buckets


def make_tokenizer(spec: str) -> Tokenizer:
    """'word' (whitespace), '13a' (sacrebleu's BLEU tokenisation) or 'spm:MODEL' (sentencepiece pieces)."""
    if spec == "word":
        return str.split
    if spec == "13a":
        from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

        tok13a = Tokenizer13a()
        return lambda line: tok13a(line).split()
    if spec.startswith("spm:"):
        import sentencepiece

        model = Path(spec[4:])
        if not model.is_file():
            raise LegokitError(f"--tokenize {spec}: sentencepiece model {model} not found")
        processor = sentencepiece.SentencePieceProcessor(model_file=str(model))
        return lambda line: processor.encode(line, out_type=str)
    raise LegokitError(f"--tokenize {spec!r}: expected word, 13a or spm:MODEL")


@dataclass
class BucketStats:
    """Corpus counts of one frequency bucket for one system."""

    bucket: str
    ref: int = 0
    hyp: int = 0
    matched: int = 0

    @property
    def precision(self) -> float:
        return self.matched / self.hyp if self.hyp else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.ref if self.ref else 0.0

    @property
    def fmeasure(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "fmeasure": self.fmeasure}


def bucketed_fmeasure(train_counts: Counter, refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]],
                      buckets: Sequence[Bucket]) -> list[BucketStats]:
    """Per-bucket matched/ref/hyp token counts of tokenised sentences (see the module docstring)."""
    stats = [BucketStats(b.name) for b in buckets]

    def index(token: str) -> int:
        freq = train_counts.get(token, 0)
        return next(i for i, b in enumerate(buckets) if freq in b)

    for ref, hyp in zip(refs, hyps):
        ref_counts, hyp_counts = Counter(ref), Counter(hyp)
        for token in ref_counts.keys() | hyp_counts.keys():
            s = stats[index(token)]
            s.ref += ref_counts[token]
            s.hyp += hyp_counts[token]
            s.matched += min(ref_counts[token], hyp_counts[token])
    return stats


def analyze(train_targets: Sequence[str], refs: Sequence[str], systems: dict[str, Sequence[str]],
            buckets: Sequence[Bucket], tokenize: Tokenizer) -> dict:
    """JSON-able analysis of several systems' hypotheses (label -> lines) against the same references."""
    train_counts: Counter = Counter()
    for line in train_targets:
        train_counts.update(tokenize(line))
    ref_tokens = [tokenize(line) for line in refs]
    types = Counter(next(b.name for b in buckets if freq in b) for freq in train_counts.values())
    return {
        "buckets": [b.name for b in buckets],
        "train_types": [types[b.name] for b in buckets],
        "systems": {label: [s.to_dict() for s in bucketed_fmeasure(
            train_counts, ref_tokens, [tokenize(line) for line in hyps], buckets)]
            for label, hyps in systems.items()},
    }


def format_table(result: dict) -> str:
    """Plain-text table: per bucket, training types, reference tokens (% of all), and per system
    hypothesis tokens (%) and F-measure."""
    systems = result["systems"]
    first = next(iter(systems.values()))
    ref_total = max(sum(s["ref"] for s in first), 1)
    header = ["bucket", "train types", "ref tok (%)"]
    for label in systems:
        header += [f"{label} tok (%)", f"{label} F"]
    rows = [header]
    for i, name in enumerate(result["buckets"]):
        row = [name, str(result["train_types"][i]), f"{first[i]['ref']} ({100 * first[i]['ref'] / ref_total:.1f})"]
        for stats in systems.values():
            hyp_total = max(sum(s["hyp"] for s in stats), 1)
            row += [f"{stats[i]['hyp']} ({100 * stats[i]['hyp'] / hyp_total:.1f})", f"{stats[i]['fmeasure']:.4f}"]
        rows.append(row)
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows) + "\n"


def _grouped_bars(ax, names: Sequence[str], series: dict[str, list[float]], ylabel: str) -> None:
    """One group of bars per bucket, one bar per series, centred on the bucket's tick."""
    width = 0.8 / len(series)
    for j, (label, values) in enumerate(series.items()):
        offset = (j - (len(series) - 1) / 2) * width
        ax.bar([x + offset for x in range(len(names))], values, width, label=label)
    ax.set_xticks(range(len(names)), names, rotation=30)
    ax.set_xlabel("frequency in training targets")
    ax.set_ylabel(ylabel)
    ax.legend()


def plot(result: dict, png: str | Path) -> None:
    """Two bar charts: F-measure per bucket per system; share of reference vs generated tokens per bucket."""
    from matplotlib.figure import Figure  # object API: no pyplot state, no display backend needed

    systems = result["systems"]
    counts = {"reference": [s["ref"] for s in next(iter(systems.values()))],
              **{label: [s["hyp"] for s in stats] for label, stats in systems.items()}}
    shares = {label: [100 * c / max(sum(values), 1) for c in values] for label, values in counts.items()}
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_f, ax_share = fig.subplots(1, 2)
    _grouped_bars(ax_f, result["buckets"], {label: [s["fmeasure"] for s in stats]
                                            for label, stats in systems.items()}, "token F-measure")
    _grouped_bars(ax_share, result["buckets"], shares, "% of tokens")
    with atomic_output(png) as tmp:
        fig.savefig(tmp, dpi=100, format=Path(png).suffix.lstrip(".") or "png")

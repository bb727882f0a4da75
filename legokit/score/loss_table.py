"""The loss comparison table (Anti-Focal paper, Raunak et al. 2020): per training loss, BLEU and chrF
averaged over seeds and the token F-measure of target words by training frequency: rare (seen 1-9 times),
10-99 and >= 100 (words never seen in training are left out of every band).

Experiments follow egs/TEMPLATE/mt1/compare_losses.sh: ``<exp>/loss_<name>_s<seed>/results.json`` and a
long-tail analysis JSON (``legokit analyze longtail --json``) whose system labels are ``<name>_s<seed>``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from legokit.errors import LegokitError
from legokit.score.results import load_record


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def _bounds(name: str) -> tuple[int, int | None]:
    """Bucket name -> (low, high); '1000+' -> (1000, None), '5-9' -> (5, 9), '3' -> (3, 3)."""
    if name.endswith("+"):
        return int(name[:-1]), None
    low, _, high = name.partition("-")
    return int(low), int(high or low)


def pooled_fmeasure(stats: list[dict], buckets: list[str], low: int, high: int | None) -> float:
    """F-measure × 100 pooled over the buckets lying inside training frequencies low..high (None: no bound)."""
    def inside(name: str) -> bool:
        b_low, b_high = _bounds(name)
        return b_low >= low and (high is None or (b_high is not None and b_high <= high))

    keep = [s for s, name in zip(stats, buckets) if inside(name)]
    matched, hyp, ref = (sum(s[k] for s in keep) for k in ("matched", "hyp", "ref"))
    p, r = (matched / hyp if hyp else 0.0), (matched / ref if ref else 0.0)
    return 100 * 2 * p * r / (p + r) if p + r else 0.0


#: (column title, low, high) of the frequency bands in the table
BANDS = (("F, train freq 1-9", 1, 9), ("F, freq 10-99", 10, 99), ("F, freq >= 100", 100, None))


def render_loss_table(exp_root: str | Path, losses: list[str], seeds: list[int], longtail_json: str | Path) -> str:
    """Markdown table: loss | BLEU | chrF | F-measure per training-frequency band, mean ± std over seeds."""
    root = Path(exp_root)
    longtail = json.loads(Path(longtail_json).read_text()) if Path(longtail_json).is_file() else None
    lines = ["| loss | BLEU | chrF | " + " | ".join(title for title, _, _ in BANDS) + " | seeds |",
             "|---|---|---|" + "---|" * len(BANDS) + "---|"]
    found = False
    for loss in losses:
        bleu, chrf = [], []
        bands: list[list[float]] = [[] for _ in BANDS]
        for seed in seeds:
            sets = load_record(root / f"loss_{loss}_s{seed}")["sets"]
            for entry in sets.values():
                found = True
                bleu += [entry["scores"]["bleu"]] if "bleu" in entry["scores"] else []
                chrf += [entry["scores"]["chrf"]] if "chrf" in entry["scores"] else []
            label = f"{loss}_s{seed}"
            if longtail and label in longtail["systems"]:
                for values, (_, low, high) in zip(bands, BANDS):
                    values.append(pooled_fmeasure(longtail["systems"][label], longtail["buckets"], low, high))
        cells = " | ".join(_mean_std(values) for values in bands)
        lines.append(f"| {loss} | {_mean_std(bleu)} | {_mean_std(chrf)} | {cells} | {len(bleu)} |")
    if not found:
        raise LegokitError(f"{root}: no scores in {root}/loss_<name>_s<seed>/results.json; run the comparison first")
    return "\n".join(lines) + "\n"

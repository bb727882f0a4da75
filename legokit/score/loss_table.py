"""The loss comparison table (Anti-Focal paper, Raunak et al. 2020): per training loss, BLEU and chrF
averaged over seeds and the token F-measure of rare target words (training frequency < 10).

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


def rare_fmeasure(stats: list[dict], buckets: list[str], max_freq: int = 9) -> float:
    """F-measure × 100 pooled over the buckets whose training frequency is at most ``max_freq``."""
    keep = [s for s, name in zip(stats, buckets) if int(name.rstrip("+").split("-")[-1]) <= max_freq
            and not name.endswith("+")]
    matched, hyp, ref = (sum(s[k] for s in keep) for k in ("matched", "hyp", "ref"))
    p, r = (matched / hyp if hyp else 0.0), (matched / ref if ref else 0.0)
    return 100 * 2 * p * r / (p + r) if p + r else 0.0


def render_loss_table(exp_root: str | Path, losses: list[str], seeds: list[int], longtail_json: str | Path) -> str:
    """Markdown table: loss | BLEU | chrF | rare-word F (freq < 10), mean ± std over seeds."""
    root = Path(exp_root)
    longtail = json.loads(Path(longtail_json).read_text()) if Path(longtail_json).is_file() else None
    lines = ["| loss | BLEU | chrF | F-measure, train freq < 10 | seeds |", "|---|---|---|---|---|"]
    found = False
    for loss in losses:
        bleu, chrf, rare = [], [], []
        for seed in seeds:
            sets = load_record(root / f"loss_{loss}_s{seed}")["sets"]
            for entry in sets.values():
                found = True
                bleu += [entry["scores"]["bleu"]] if "bleu" in entry["scores"] else []
                chrf += [entry["scores"]["chrf"]] if "chrf" in entry["scores"] else []
            label = f"{loss}_s{seed}"
            if longtail and label in longtail["systems"]:
                rare.append(rare_fmeasure(longtail["systems"][label], longtail["buckets"]))
        lines.append(f"| {loss} | {_mean_std(bleu)} | {_mean_std(chrf)} | {_mean_std(rare)} | {len(bleu)} |")
    if not found:
        raise LegokitError(f"{root}: no scores in {root}/loss_<name>_s<seed>/results.json; run the comparison first")
    return "\n".join(lines) + "\n"

"""The LegoNN reuse table (paper: "reusing decoder modules"): one row per task, three columns.

    | task | baseline trained on the task | LegoNN zero-shot (reused De-En decoder) | LegoNN fine-tuned |

Scores are read from each experiment's results.json (written by ``legokit results``); the experiment
directories follow egs/TEMPLATE/lego1/lego_reuse.sh: ``<exp>/{ro_en,asr}_{baseline,zeroshot,finetune}``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from legokit.errors import LegokitError
from legokit.provenance import environment, git_hash
from legokit.recipe import stage_durations
from legokit.score.results import load_record, markdown_table

COLUMNS = ("baseline", "zeroshot", "finetune")
TITLES = ("baseline trained on the task", "LegoNN zero-shot (reused De-En decoder)", "LegoNN fine-tuned")


@dataclass(frozen=True)
class Task:
    name: str      # row title
    prefix: str    # experiment dir prefix
    metric: str    # key in results.json
    title: str     # metric title


TASKS = (Task("Ro-En MT", "ro_en", "bleu", "BLEU"), Task("English ASR", "asr", "wer", "WER"))


def _score(exp_dir: Path, metric: str) -> float | None:
    sets = load_record(exp_dir)["sets"]
    values = [entry["scores"][metric] for entry in sets.values() if metric in entry["scores"]]
    return values[0] if values else None


def reuse_rows(exp_root: str | Path) -> list[tuple[str, list[float | None]]]:
    """(task title with metric, [baseline, zero-shot, fine-tuned] scores or None where missing)."""
    root = Path(exp_root)
    rows = []
    for task in TASKS:
        scores = [_score(root / f"{task.prefix}_{col}", task.metric) for col in COLUMNS]
        rows.append((f"{task.name} ({task.title})", scores))
    if all(s is None for _, scores in rows for s in scores):
        raise LegokitError(f"{root}: no scores in {root}/<task>_<system>/results.json; run the scoring stage first")
    return rows


def system_scores(exp_root: str | Path) -> list[tuple[str, dict[str, float]]]:
    """(experiment name, every score of its first test set) for each scored experiment under exp_root."""
    rows = []
    for exp_dir in sorted(Path(exp_root).iterdir()):
        if (exp_dir / "results.json").is_file():
            sets = load_record(exp_dir)["sets"]
            if sets:
                rows.append((exp_dir.name, next(iter(sets.values()))["scores"]))
    return rows


def render_reuse_table(exp_root: str | Path) -> str:
    """RESULTS.md text: the table, the De-En source model's own score, every system's scores, stage
    durations (training time), environment and git hash."""
    root = Path(exp_root)
    lines = ["# LegoNN decoder reuse", "",
             "| task | " + " | ".join(TITLES) + " |", "|---|" + "---|" * len(TITLES)]
    for name, scores in reuse_rows(root):
        cells = ["-" if s is None else f"{s:.2f}" for s in scores]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    de_en = _score(root / "de_en_lego", "bleu")
    lines += ["", f"De-En LegoNN model whose decoder is reused: BLEU {de_en:.2f}" if de_en is not None
              else "De-En LegoNN model: not scored", ""]
    systems = system_scores(root)
    if systems:
        lines += ["## Every system", "", markdown_table(systems)]
    stages = stage_durations(root)  # from the recipe's done-markers
    if stages:
        lines += ["## Stages (wall time of the last run of each)", "", "| stage | name | minutes |", "|---:|---|---:|"]
        lines += [f"| {n} | {name} | {seconds / 60:.1f} |" for n, name, seconds in stages]
        lines += [f"| | total | {sum(sec for *_, sec in stages) / 60:.1f} |", ""]
    env = environment()
    lines += ["## Environment", "", *(f"- {k}: {v}" for k, v in env.items()),
              f"- git: {git_hash()}", f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}", ""]
    return "\n".join(lines)

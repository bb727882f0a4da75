"""The LegoNN reuse table (paper: "reusing decoder modules"): one row per task, three scores and their
paired-bootstrap comparisons.

    | task | baseline trained on the task | LegoNN zero-shot (reused De-En decoder) | LegoNN fine-tuned |
      zero-shot − baseline | fine-tuned − baseline | fine-tuned − zero-shot |

Scores are read from each experiment's results.json (written by ``legokit results``); the experiment
directories follow egs/TEMPLATE/lego1/lego_reuse.sh: ``<exp>/{ro_en,asr}_{baseline,zeroshot,finetune}``.
Each comparison cell is what ``legokit score <metric> --compare`` prints for the same reference and
hypothesis files (those results.json records; same resamples and seed): A − B, its 95% interval, p. A cell
says "n/a: ..." when a file is missing or no longer gives the recorded score.

A row whose systems have not learned the task (any WER above :data:`MAX_CONVERGED_WER`, any BLEU below
:data:`MIN_CONVERGED_BLEU`) is marked "not converged" and not compared: between systems that are mostly
wrong, which one is ahead says how far each got in a too-short run, not whether reusing a decoder helps.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from legokit.errors import LegokitError
from legokit.provenance import environment, git_hash
from legokit.recipe import stage_durations
from legokit.score.io import read_pair
from legokit.score.metrics import compute
from legokit.score.results import RECORD_NAME, load_record, markdown_table
from legokit.score.significance import BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, PairedResult, paired_bootstrap

COLUMNS = ("baseline", "zeroshot", "finetune")
TITLES = ("baseline trained on the task", "LegoNN zero-shot (reused De-En decoder)", "LegoNN fine-tuned")
#: (A, B) column pairs compared by paired bootstrap, and their titles
COMPARISONS = (("zeroshot", "baseline"), ("finetune", "baseline"), ("finetune", "zeroshot"))
COMPARISON_TITLES = ("zero-shot − baseline", "fine-tuned − baseline", "fine-tuned − zero-shot")

#: %: a WER row with any system above this is "not converged" (most output words wrong) and is not compared
MAX_CONVERGED_WER = 60.0
#: a BLEU row with any system below this is "not converged" (almost no n-gram matches) and is not compared
MIN_CONVERGED_BLEU = 1.0


@dataclass(frozen=True)
class Task:
    name: str              # row title
    prefix: str            # experiment dir prefix
    metric: str            # key in results.json (and the `legokit score` metric of the comparisons)
    title: str             # metric title
    lower_is_better: bool  # WER: True
    limit: float           # convergence bound: worst score of a system that has learned the task

    def not_converged(self, score: float) -> bool:
        return score > self.limit if self.lower_is_better else score < self.limit

    @property
    def criterion(self) -> str:
        """The not-converged condition as shown, e.g. 'WER > 60%'."""
        return f"{self.title} > {self.limit:g}%" if self.lower_is_better else f"{self.title} < {self.limit:.1f}"


TASKS = (Task("Ro-En MT", "ro_en", "bleu", "BLEU", False, MIN_CONVERGED_BLEU),
         Task("English ASR", "asr", "wer", "WER", True, MAX_CONVERGED_WER))


@dataclass(frozen=True)
class ReuseRow:
    """One task: its scores (baseline, zero-shot, fine-tuned; None where missing), whether every scored
    system converged, and one comparison per :data:`COMPARISONS` (a result, or why there is none; empty when
    not converged)."""

    task: Task
    scores: list[float | None]
    converged: bool
    comparisons: list[PairedResult | str]
    missing: list[int | None] = field(default_factory=list)  # per system: reference ids without a hypothesis

    @property
    def title(self) -> str:
        title = f"{self.task.name} ({self.task.title})"
        return title if self.converged else f"{title} (not converged: {self.task.criterion}, no comparison)"


def _scored_set(exp_dir: Path, metric: str) -> dict | None:
    """The first test set of exp_dir's results.json that has ``metric``."""
    return next((entry for entry in load_record(exp_dir)["sets"].values() if metric in entry["scores"]), None)


def _score(exp_dir: Path, metric: str) -> float | None:
    entry = _scored_set(exp_dir, metric)
    return None if entry is None else entry["scores"][metric]


def _locate(recorded: str, exp_dir: Path) -> Path | None:
    """A file path as results.json records it: relative to where `legokit results` ran (the recipe
    directory), so tried from here and from each directory above the experiment."""
    path = Path(recorded)
    if path.is_file():
        return path
    if path.is_absolute():
        return None
    for base in exp_dir.resolve().parents:
        if (base / path).is_file():
            return base / path
    return None


def _segments(exp_dir: Path, metric: str) -> tuple[list[str], list[str], list[str], int] | str:
    """(ids, refs, hyps, number of reference ids without a hypothesis, scored as empty) of the test set whose
    ``metric`` the table shows, read as `legokit results` read them, or why not ("n/a: ..."). Kaldi files (the
    recipes' form) or plain ones: whichever reproduces the recorded score, so hypotheses re-decoded after
    scoring are not compared under the old score."""
    if not (exp_dir / RECORD_NAME).is_file():
        return f"n/a: {exp_dir.name}/{RECORD_NAME} missing"
    entry = _scored_set(exp_dir, metric)
    if entry is None:
        return f"n/a: no {metric} in {exp_dir.name}/{RECORD_NAME}"
    files = entry.get("files", {})
    if "ref" not in files or "hyp" not in files:
        return f"n/a: {exp_dir.name}/{RECORD_NAME} records no ref/hyp files"
    paths = {}
    for role in ("ref", "hyp"):
        paths[role] = _locate(files[role], exp_dir)
        if paths[role] is None:
            return f"n/a: {files[role]} missing"
    recorded, errors = entry["scores"][metric], []
    for kaldi in (True, False):
        missing: list[str] = []
        try:
            ids, refs, hyps = read_pair(paths["ref"], paths["hyp"], kaldi=kaldi, missing=missing if kaldi else None)
        except LegokitError as err:
            errors.append(str(err))
            continue
        if abs(compute([metric], refs, hyps)[metric] - recorded) < 1e-6:
            return ids, refs, hyps, len(missing)
    if len(errors) == 2:
        return f"n/a: {errors[0]}"
    return f"n/a: {files['hyp']} no longer gives the recorded {metric} {recorded:.2f}; re-run the scoring stage"


def _compare(a: tuple | str, b: tuple | str, name_a: str, name_b: str, metric: str) -> PairedResult | str:
    for side in (a, b):
        if isinstance(side, str):
            return side
    (ids_a, refs_a, hyps_a, _), (ids_b, refs_b, hyps_b, _) = a, b
    if ids_a != ids_b or refs_a != refs_b:
        return f"n/a: {name_a} and {name_b} were scored against different references"
    try:
        return paired_bootstrap(refs_a, hyps_a, hyps_b, [metric], BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED)[0]
    except LegokitError as err:
        return f"n/a: {err}"


def reuse_rows(exp_root: str | Path) -> list[ReuseRow]:
    """One :class:`ReuseRow` per task under ``exp_root`` (scores from results.json, comparisons by paired
    bootstrap of the recorded hypothesis files)."""
    root = Path(exp_root)
    rows = []
    for task in TASKS:
        dirs = {col: root / f"{task.prefix}_{col}" for col in COLUMNS}
        scores = [_score(dirs[col], task.metric) for col in COLUMNS]
        converged = not any(s is not None and task.not_converged(s) for s in scores)
        comparisons: list[PairedResult | str] = []
        missing: list[int | None] = []
        if converged:
            segments = {col: _segments(dirs[col], task.metric) for col in COLUMNS}
            comparisons = [_compare(segments[a], segments[b], dirs[a].name, dirs[b].name, task.metric)
                           for a, b in COMPARISONS]
            missing = [None if isinstance(segments[col], str) else segments[col][3] for col in COLUMNS]
        rows.append(ReuseRow(task, scores, converged, comparisons, missing))
    if all(s is None for row in rows for s in row.scores):
        raise LegokitError(f"{root}: no scores in {root}/<task>_<system>/results.json; run the scoring stage first")
    return rows


def _comparison_cell(result: PairedResult | str) -> str:
    if isinstance(result, str):
        return result.replace("|", "\\|")
    p = result.p_text
    return f"{result.delta:+.2f} [{result.ci_low:+.2f}, {result.ci_high:+.2f}] p{' ' if p.startswith('<') else '='}{p}"


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
    rows = reuse_rows(root)
    lines = ["# LegoNN decoder reuse", "",
             "| task | " + " | ".join([*TITLES, *COMPARISON_TITLES]) + " |",
             "|---|" + "---:|" * len(TITLES) + "---|" * len(COMPARISON_TITLES)]
    for row in rows:
        cells = ["-" if s is None else f"{s:.2f}" for s in row.scores]
        cells += [_comparison_cell(c) for c in row.comparisons] or ["not compared"] * len(COMPARISON_TITLES)
        lines.append(f"| {row.title} | " + " | ".join(cells) + " |")
    lines += ["", "Each difference \"A − B\" is the row's metric of A minus B with its 95% paired-bootstrap "
                  f"interval and p (`legokit score <metric> --compare`: {BOOTSTRAP_SAMPLES} resamples, seed "
                  f"{BOOTSTRAP_SEED}, on the files each {RECORD_NAME} records); for WER a negative difference "
                  "means A is better; p < 0.05: unlikely to be test-set sampling alone."]
    for row in rows:
        absent = [f"{row.task.prefix}_{col} {n}" for col, n in zip(COLUMNS, row.missing) if n]
        if absent:
            lines += ["", f"{row.task.name}: missing hypotheses (reference utterances without one, scored as "
                          f"empty, as `legokit score --compare` counts them): {', '.join(absent)}."]
    for row in rows:
        if not row.converged:
            worst = ", ".join(f"{row.task.prefix}_{col} {s:.2f}" for col, s in zip(COLUMNS, row.scores)
                              if s is not None and row.task.not_converged(s))
            lines += ["", f"{row.task.name} is not converged ({row.task.criterion}: {worst}): a system that far "
                          "off has not learned the task, so a difference to it measures how far each run got in "
                          "its budget, not whether reusing the decoder helps; the scores are shown, no "
                          "comparison is made (thresholds: MAX_CONVERGED_WER, MIN_CONVERGED_BLEU in "
                          "legokit/score/reuse_table.py)."]
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

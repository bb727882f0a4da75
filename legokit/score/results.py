"""RESULTS.md of an experiment directory, and markdown score tables.

The scores live in ``<exp>/results.json`` (one entry per test set, so scoring a new test set adds a
row and re-scoring one replaces only its row; WER/CER per speaker, when scored with ``--utt2spk``, under the
set's ``"speakers"`` and as a table per set); ``<exp>/RESULTS.md`` is rendered from it on every
update together with the environment (python, torch, legokit, OS, CPUs, host), the legokit git hash, the
date and the config used.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from legokit.errors import LegokitError
from legokit.fileio import write_atomic
from legokit.provenance import environment, git_hash
from legokit.score.speakers import SpeakerScores, check_speaker_scores, speaker_markdown

RECORD_NAME = "results.json"
MARKDOWN_NAME = "RESULTS.md"
#: json key -> column title, in the order columns are shown
METRIC_TITLES = {"bleu": "BLEU", "chrf": "chrF", "wer": "WER", "cer": "CER",
                 "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L",
                 "rouge1_nostem": "ROUGE-1 (no stem)", "rouge2_nostem": "ROUGE-2 (no stem)",
                 "rougeL_nostem": "ROUGE-L (no stem)", "meteor": "METEOR"}


def config_info(path: str | Path) -> dict[str, str]:
    """{"path", "sha256"} (first 12 hex digits) of a config file."""
    path = Path(path)
    if not path.is_file():
        raise LegokitError(f"{path}: config file not found (--config)")
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:12]}


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _read_json(path: Path, what: str) -> object:
    if not path.is_file():
        raise LegokitError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise LegokitError(f"{path}:{err.lineno}: {what} is not valid JSON ({err.msg}); fix or delete it") from err


def load_record(exp_dir: str | Path) -> dict:
    """The experiment's results.json, or an empty record."""
    path = Path(exp_dir) / RECORD_NAME
    return _read_json(path, "results record") if path.is_file() else {"sets": {}}


def update_results(exp_dir: str | Path, test_set: str, scores: Mapping[str, float],
                   config: str | Path | None = None, files: Mapping[str, str] | None = None,
                   speakers: SpeakerScores | None = None) -> Path:
    """Record ``scores`` of ``test_set`` in ``exp_dir`` and re-render RESULTS.md; returns its path.

    Other test sets' rows are kept. ``config`` defaults to ``<exp_dir>/config.yaml`` if present (else the
    config recorded earlier); ``files`` (e.g. {"ref": ..., "hyp": ...}) is noted under the table;
    ``speakers`` ({speaker: record}, :mod:`legokit.score.speakers`) is kept as the set's ``"speakers"`` and
    rendered as a per-speaker table.
    """
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    record = load_record(exp_dir)
    if config is None and (exp_dir / "config.yaml").is_file():
        config = exp_dir / "config.yaml"
    if config is not None:
        record["config"] = config_info(config)
    record.update(environment=environment(), git=git_hash(), date=_now())
    record["sets"][test_set] = {"scores": dict(scores), "files": dict(files or {}), "date": record["date"],
                                "git": record["git"]}
    if speakers:
        record["sets"][test_set]["speakers"] = dict(speakers)
    write_atomic(json.dumps(record, indent=1) + "\n", exp_dir / RECORD_NAME)
    markdown = exp_dir / MARKDOWN_NAME
    write_atomic(render_results(record, title=exp_dir.name), markdown)
    return markdown


def metric_columns(score_dicts: Iterable[Mapping[str, float]]) -> list[str]:
    """Metric keys present in any row: known metrics in METRIC_TITLES order, then others as first seen."""
    seen: dict[str, None] = {}
    for scores in score_dicts:
        seen.update(dict.fromkeys(scores))
    return [key for key in METRIC_TITLES if key in seen] + [key for key in seen if key not in METRIC_TITLES]


def markdown_table(rows: Sequence[tuple[str, Mapping[str, float]]], row_header: str = "system",
                   metrics: Sequence[str] | None = None, digits: int = 2) -> str:
    """A markdown table, one row per (name, scores) pair and one column per metric ('-' if missing).

    Used for RESULTS.md (rows = test sets) and docs comparison tables (rows = systems or tasks).
    """
    metrics = list(metrics) if metrics is not None else metric_columns(scores for _, scores in rows)
    lines = ["| " + " | ".join([row_header, *(METRIC_TITLES.get(m, m) for m in metrics)]) + " |",
             "|" + "---|" + "---:|" * len(metrics)]
    for name, scores in rows:
        cells = [f"{scores[m]:.{digits}f}" if m in scores else "-" for m in metrics]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines) + "\n"


def render_results(record: Mapping, title: str) -> str:
    """RESULTS.md text for a results.json record."""
    env = record["environment"]
    config = record.get("config")
    config_line = f"`{config['path']}` (sha256 `{config['sha256']}`)" if config else "not recorded"
    sets = record["sets"]
    notes = [f"- {name}: " + ", ".join([*(f"{k} `{v}`" for k, v in entry["files"].items()),
                                        f"scored {entry['date']}", f"git `{entry['git']}`"])
             for name, entry in sets.items()]
    per_speaker = [f"\n### {name}: per speaker\n\n" + speaker_markdown(entry["speakers"]).rstrip("\n")
                   for name, entry in sets.items() if entry.get("speakers")]
    return "\n".join([
        f"# RESULTS: {title}",
        "",
        f"<!-- written by `legokit results` from {RECORD_NAME}; re-run it rather than editing this file -->",
        "",
        "## Environment",
        "",
        f"- date: {record['date']}",
        f"- git hash: `{record['git']}`",
        f"- python {env['python']}, torch {env['torch']}, legokit {env['legokit']}",
        f"- OS: {env['os']}, CPUs: {env['cpus']}, host: {env.get('host', 'not recorded')}",
        f"- config: {config_line}",
        "",
        "## Scores",
        "",
        markdown_table([(name, entry["scores"]) for name, entry in sets.items()], row_header="test set"),
        *notes,
        *per_speaker,
        "",
    ])


def comparison_rows(exp_dirs: Sequence[str | Path]) -> list[tuple[str, Mapping[str, float]]]:
    """Rows '<exp name>/<test set>' from several experiments' results.json, for :func:`markdown_table`."""
    rows = []
    for exp_dir in exp_dirs:
        record = load_record(exp_dir)
        if not record["sets"]:
            raise LegokitError(f"{Path(exp_dir) / RECORD_NAME}: no scores recorded; run `legokit results "
                               f"--exp-dir {exp_dir} ...` first")
        rows += [(f"{Path(exp_dir).name}/{name}", entry["scores"]) for name, entry in record["sets"].items()]
    return rows


def read_scores_json(path: str | Path) -> dict[str, float]:
    """A scores file written by ``legokit score --output`` (a flat JSON object of numbers; a ``"speakers"``
    object, see :func:`read_scores_file`, is left out)."""
    return read_scores_file(path)[0]


def read_scores_file(path: str | Path) -> tuple[dict[str, float], SpeakerScores | None]:
    """A scores file written by ``legokit score --output``: (metric -> number, the per-speaker records of
    ``--utt2spk`` under ``"speakers"`` or None)."""
    path = Path(path)
    scores = _read_json(path, "scores file (--scores)")
    speakers = scores.pop("speakers", None) if isinstance(scores, dict) else None
    if not isinstance(scores, dict) or not all(isinstance(v, (int, float)) for v in scores.values()):
        raise LegokitError(f"{path}: expected a JSON object of metric -> number, e.g. {{\"bleu\": 31.2}}")
    return ({key: float(value) for key, value in scores.items()},
            None if speakers is None else check_speaker_scores(speakers, path))


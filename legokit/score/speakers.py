"""Per-speaker WER and CER, like sclite's per-speaker report (``--utt2spk``).

A Kaldi ``utt2spk`` file (``<utterance id> <speaker>``) groups the reference utterances; each speaker's
score is jiwer's corpus computation on that speaker's utterances (edits / reference words or characters),
so the errors and reference counts of all speakers add up to the corpus score. A reference id without a
hypothesis is an empty hypothesis (every reference word deleted, as :func:`legokit.score.io.read_pair`
scores it) and is counted in its speaker's ``missing``.

Record of one speaker (JSON)::

    {"utts": 40, "words": 812, "word_errors": 190, "wer": 23.4,       # with wer
     "chars": 4100, "char_errors": 410, "cer": 10.0,                  # with cer
     "missing": 1}                                                    # only when some hypotheses are missing
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import jiwer

from legokit.errors import LegokitError
from legokit.score.io import read_lines, read_pair
from legokit.score.metrics import compute

log = logging.getLogger(__name__)

#: metric -> (reference unit, jiwer alignment over a list of segments)
SPEAKER_METRICS = {"wer": ("words", jiwer.process_words), "cer": ("chars", jiwer.process_characters)}
_ERRORS = {"words": "word_errors", "chars": "char_errors"}

SpeakerScores = dict[str, dict[str, float | int | None]]


def read_utt2spk(path: str | Path) -> dict[str, str]:
    """``<utterance id> <speaker>`` lines -> {utterance: speaker}; malformed lines and duplicate ids are errors."""
    utt2spk: dict[str, str] = {}
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split()
        if len(fields) != 2:
            raise LegokitError(f"{path}:{number}: expected '<utterance id> <speaker>', got {line.strip()!r}")
        utt, speaker = fields
        if utt in utt2spk:
            raise LegokitError(f"{path}:{number}: duplicate utterance id {utt!r}")
        utt2spk[utt] = speaker
    return utt2spk


def speakers_of(ids: Sequence[str], utt2spk: Mapping[str, str], path: str | Path) -> list[str]:
    """The speaker of every id; an id that ``utt2spk`` lacks is an error naming the file and the id."""
    absent = [utt for utt in ids if utt not in utt2spk]
    if absent:
        more = f" ({len(absent)} of the {len(ids)} reference ids are not in it)" if len(absent) > 1 else ""
        raise LegokitError(f"{path}: no speaker for utterance {absent[0]!r} of the reference{more}; expected "
                           "'<utterance id> <speaker>' lines covering every reference id (--utt2spk)")
    return [utt2spk[utt] for utt in ids]


def speaker_metrics(names: Sequence[str]) -> list[str]:
    """The metrics of ``names`` that have per-speaker scores (wer, cer); logs once which ones do not."""
    kept = [name for name in names if name in SPEAKER_METRICS]
    others = [name for name in names if name not in SPEAKER_METRICS]
    if others:
        log.info("--utt2spk: per-speaker scores are given for %s only; none for %s",
                 " and ".join(SPEAKER_METRICS), ", ".join(others))
    return kept


def speaker_scores(ids: Sequence[str], refs: Sequence[str], hyps: Sequence[str], speakers: Sequence[str],
                   names: Sequence[str], missing: Collection[str] = ()) -> SpeakerScores:
    """{speaker: record} (speakers sorted) of the per-speaker metrics among ``names`` (see the module doc).

    A speaker whose reference segments are all empty has a score of None (no reference words to divide by)."""
    groups: dict[str, list[int]] = {}
    for i, speaker in enumerate(speakers):
        groups.setdefault(speaker, []).append(i)
    missing = set(missing)
    result: SpeakerScores = {}
    for speaker in sorted(groups):
        rows = groups[speaker]
        record: dict[str, float | int | None] = {"utts": len(rows)}
        for name in names:
            unit, process = SPEAKER_METRICS[name]
            out = process([refs[i] for i in rows], [hyps[i] for i in rows])
            total = out.hits + out.substitutions + out.deletions
            errors = out.substitutions + out.deletions + out.insertions
            record.update({unit: total, _ERRORS[unit]: errors, name: 100.0 * errors / total if total else None})
        lost = sum(ids[i] in missing for i in rows)
        if lost:
            record["missing"] = lost
        result[speaker] = record
    return result


def total_record(speakers: SpeakerScores) -> dict[str, float | int | None]:
    """The speakers' records summed: utterances, reference and error counts, and the scores they give."""
    total: dict[str, float | int | None] = {}
    for record in speakers.values():
        for key, value in record.items():
            if key not in SPEAKER_METRICS:
                total[key] = total.get(key, 0) + value
    for name, (unit, _) in SPEAKER_METRICS.items():
        if unit in total:
            total[name] = 100.0 * total[_ERRORS[unit]] / total[unit] if total[unit] else None
    return total


def score_files_by_speaker(ref: str | Path, hyp: str | Path, names: Sequence[str],
                           utt2spk: str | Path) -> tuple[dict[str, float], SpeakerScores | None]:
    """Kaldi reference and hypothesis files scored as :func:`legokit.score.metrics.score_files` does with
    ``count_missing`` (the corpus scores, ``missing`` when hypotheses are missing), and per speaker of
    ``utt2spk`` for wer and cer (None when ``names`` has neither)."""
    per_speaker = speaker_metrics(names)
    spk_map = read_utt2spk(utt2spk)
    missing: list[str] = []
    ids, refs, hyps = read_pair(ref, hyp, kaldi=True, missing=missing)
    speakers = speakers_of(ids, spk_map, utt2spk)
    scores = compute(names, refs, hyps)
    if missing:
        scores["missing"] = len(missing)
    return scores, (speaker_scores(ids, refs, hyps, speakers, per_speaker, missing) if per_speaker else None)


def _columns(speakers: SpeakerScores) -> list[str]:
    keys = {key for record in speakers.values() for key in record}
    columns = ["utts"]
    for name, (unit, _) in SPEAKER_METRICS.items():
        if name in keys:
            columns += [unit, name]
    return columns + (["missing"] if "missing" in keys else [])


def _cell(record: Mapping, key: str) -> str:
    value = record.get(key, 0 if key == "missing" else None)
    if value is None:
        return "-"
    return f"{value:.2f}" if key in SPEAKER_METRICS else str(value)


def format_speaker_lines(speakers: SpeakerScores) -> str:
    """Tab-separated lines: a header (speaker, utts, words, wer, chars, cer, missing), then one per speaker."""
    columns = _columns(speakers)
    lines = ["\t".join(["speaker", *columns])]
    lines += ["\t".join([speaker, *(_cell(record, key) for key in columns)]) for speaker, record in speakers.items()]
    return "\n".join(lines) + "\n"


#: column titles of the RESULTS.md table
_TITLES = {"utts": "utterances", "words": "ref. words", "wer": "WER", "chars": "ref. chars", "cer": "CER",
           "missing": "missing hyps"}


def speaker_markdown(speakers: SpeakerScores) -> str:
    """A markdown table, one row per speaker and a last row 'all' (their sums: the corpus scores)."""
    columns = _columns(speakers)
    rows = [*speakers.items(), ("**all**", total_record(speakers))]
    lines = ["| " + " | ".join(["speaker", *(_TITLES[key] for key in columns)]) + " |",
             "|---|" + "---:|" * len(columns)]
    lines += ["| " + " | ".join([speaker, *(_cell(record, key) for key in columns)]) + " |" for speaker, record in rows]
    return "\n".join(lines) + "\n"


def check_speaker_scores(obj: object, path: str | Path) -> SpeakerScores:
    """A "speakers" object read from JSON (``legokit score --utt2spk --output``): {speaker: {key: number}}."""
    if not isinstance(obj, dict) or not all(
            isinstance(record, dict) and all(value is None or isinstance(value, (int, float))
                                             for value in record.values()) for record in obj.values()):
        raise LegokitError(f"{path}: \"speakers\" must be an object of speaker -> {{\"utts\": N, \"wer\": x, ...}}")
    return obj

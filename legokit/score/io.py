"""Reading reference/hypothesis files: one segment per line, or Kaldi ``<id> <text>`` lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from legokit.errors import LegokitError
from legokit.fileio import split_lines, write_atomic

log = logging.getLogger(__name__)


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file split at line ends only (:func:`split_lines`), without them; an empty last
    line is a real segment."""
    path = Path(path)
    if not path.is_file():
        raise LegokitError(f"{path}: no such file")
    try:
        text = path.read_bytes().decode("utf-8")  # not read_text: it would end lines at a stray \r
    except UnicodeDecodeError as err:
        raise LegokitError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None
    if not text:
        raise LegokitError(f"{path}: file is empty; expected one segment per line")
    return split_lines(text)


def read_kaldi(path: str | Path) -> dict[str, str]:
    """``<id> <text>`` lines (text may be empty) -> {id: text}, in file order; duplicate ids are errors."""
    entries: dict[str, str] = {}
    for number, line in enumerate(read_lines(path), start=1):
        key, _, text = line.strip().partition(" ")
        if not key:
            raise LegokitError(f"{path}:{number}: empty line; expected '<utterance id> <text>'")
        if key in entries:
            raise LegokitError(f"{path}:{number}: duplicate id {key!r}")
        entries[key] = text.strip()
    return entries


def _preview(ids: list[str]) -> str:
    return ", ".join(ids[:5]) + (f" ... ({len(ids)} in all)" if len(ids) > 5 else "")


def read_pair(ref_path: str | Path, hyp_path: str | Path, kaldi: bool = False,
              missing: list[str] | None = None) -> tuple[list[str], list[str], list[str]]:
    """Aligned (ids, refs, hyps). Plain files are matched line by line (ids are line numbers);
    Kaldi files by id, in reference order. Extra ids and unequal line counts are errors; so are reference
    ids without a hypothesis, unless a ``missing`` list is given: then they are scored as empty hypotheses
    (all their words deleted, as sclite does), appended to ``missing`` and named in a warning.
    A reference whose segments are all empty is an error (every score against it would be meaningless)."""
    if not kaldi:
        refs, hyps = read_lines(ref_path), read_lines(hyp_path)
        if len(refs) != len(hyps):
            raise LegokitError(f"{ref_path} has {len(refs)} lines but {hyp_path} has {len(hyps)}; "
                               "reference and hypothesis need one segment per line each "
                               "(use --kaldi for files keyed by utterance id)")
        ids = [str(i) for i in range(1, len(refs) + 1)]
    else:
        ref_map, hyp_map = read_kaldi(ref_path), read_kaldi(hyp_path)
        absent = [key for key in ref_map if key not in hyp_map]
        extra = [key for key in hyp_map if key not in ref_map]
        problems = []
        if absent and missing is None:
            problems.append(f"{len(absent)} id(s) of {ref_path} missing from {hyp_path}: {_preview(absent)}")
        if extra:
            problems.append(f"{len(extra)} id(s) of {hyp_path} not in {ref_path}: {_preview(extra)}")
        if problems:
            raise LegokitError("; ".join(problems) + f" ({len(ref_map)} vs {len(hyp_map)} entries)")
        if absent:
            log.warning("%d of %d reference ids have no hypothesis in %s; they are scored as empty hypotheses "
                        "(every reference word deleted): %s", len(absent), len(ref_map), hyp_path, _preview(absent))
            missing.extend(absent)
        ids = list(ref_map)
        refs, hyps = [ref_map[key] for key in ids], [hyp_map.get(key, "") for key in ids]
    _check_references(ref_path, ids, refs, "line" if not kaldi else "id")
    return ids, refs, hyps


def _check_references(ref_path: str | Path, ids: list[str], refs: list[str], unit: str) -> None:
    """Refuse a reference of only empty segments; warn about some empty ones (hypothesis words = insertions)."""
    empty = [key for key, ref in zip(ids, refs) if not ref.strip()]
    if empty and len(empty) == len(refs):
        raise LegokitError(f"{ref_path}: all {len(refs)} reference segments are empty (blank lines or ids "
                           "without text); there is nothing to score against")
    if empty:
        log.warning("%s: %d of %d reference segments are empty (%s %s); hypothesis words there count as "
                    "insertions", ref_path, len(empty), len(refs), unit, _preview(empty))


def write_json(obj: object, path: str | Path) -> None:
    """Write ``obj`` as indented JSON, atomically, creating the parent directory."""
    write_atomic(json.dumps(obj, indent=1) + "\n", path)

"""Reading reference/hypothesis files: one segment per line, or Kaldi ``<id> <text>`` lines."""

from __future__ import annotations

import json
from pathlib import Path

from legokit.errors import LegokitError


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file without their line ends; an empty last line is a real segment."""
    path = Path(path)
    if not path.is_file():
        raise LegokitError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise LegokitError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None
    if not text:
        raise LegokitError(f"{path}: file is empty; expected one segment per line")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


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


def read_pair(ref_path: str | Path, hyp_path: str | Path, kaldi: bool = False
              ) -> tuple[list[str], list[str], list[str]]:
    """Aligned (ids, refs, hyps). Plain files are matched line by line (ids are line numbers);
    Kaldi files by id, in reference order. Missing or extra ids and unequal line counts are errors."""
    if not kaldi:
        refs, hyps = read_lines(ref_path), read_lines(hyp_path)
        if len(refs) != len(hyps):
            raise LegokitError(f"{ref_path} has {len(refs)} lines but {hyp_path} has {len(hyps)}; "
                               "reference and hypothesis need one segment per line each "
                               "(use --kaldi for files keyed by utterance id)")
        return [str(i) for i in range(1, len(refs) + 1)], refs, hyps
    ref_map, hyp_map = read_kaldi(ref_path), read_kaldi(hyp_path)
    missing = [key for key in ref_map if key not in hyp_map]
    extra = [key for key in hyp_map if key not in ref_map]
    problems = []
    if missing:
        problems.append(f"{len(missing)} id(s) of {ref_path} missing from {hyp_path}: {_preview(missing)}")
    if extra:
        problems.append(f"{len(extra)} id(s) of {hyp_path} not in {ref_path}: {_preview(extra)}")
    if problems:
        raise LegokitError("; ".join(problems) + f" ({len(ref_map)} vs {len(hyp_map)} entries)")
    ids = list(ref_map)
    return ids, [ref_map[key] for key in ids], [hyp_map[key] for key in ids]


def write_json(obj: object, path: str | Path) -> None:
    """Write ``obj`` as indented JSON, creating the parent directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")

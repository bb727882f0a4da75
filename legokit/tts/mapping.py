"""Phone mapping: each target phone missing from a source inventory -> the closest source phone.

Distance between two phones a, b with PanPhon vectors f_a, f_b in {-1, 0, +1}^24 (``distance``):

* ``"hamming"``: the number of features on which they differ, Σ_i [f_a,i ≠ f_b,i];
* ``"weighted"`` (default): PanPhon's weighted feature distance Σ_i w_i |f_a,i − f_b,i| / 2 with the
  weights of panphon/data/feature_weights.csv (major-class features syl/son/cons weigh 1, place and
  laryngeal features 0.125–0.25), so a vowel is never mapped to a consonant when a vowel is available.

Ties go to the more frequent source phone, then to the alphabetically first. Phones present in both
inventories map to themselves. The table is written as TSV for inspection (:func:`write_mapping`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from legokit.errors import LegokitError
from legokit.fileio import read_text_lines
from legokit.tts.features import feature_weights, phone_vector

DISTANCES = ("hamming", "weighted")


@dataclass
class MappedPhone:
    """One row of the mapping table."""

    target: str
    source: str
    distance: float  # 0 for phones the source inventory has


def phone_distance(a: np.ndarray, b: np.ndarray, distance: str = "weighted") -> np.ndarray:
    """Distances between feature vectors a (..., 24) and b (..., 24) -> (...)."""
    if distance == "hamming":
        return (a != b).sum(-1).astype(np.float64)
    if distance == "weighted":
        return (np.abs(a - b) * feature_weights()).sum(-1) / 2.0
    raise LegokitError(f"phone distance must be one of {', '.join(DISTANCES)}; got {distance!r}")


def map_phones(target: Sequence[str], source: Counter | Mapping[str, int], target_lang: str = "?",
               source_lang: str = "?", distance: str = "weighted", on_unknown: str = "error"
               ) -> list[MappedPhone]:
    """Map every target phone to a source phone (itself when the source has it); see the module doc."""
    ranked = sorted(source, key=lambda p: (-source[p], p))
    if not ranked:
        raise LegokitError(f"the source inventory of '{source_lang}' is empty: give its phone counts")
    src = np.stack([phone_vector(p, source_lang, on_unknown) for p in ranked])  # (S, 24)
    rows = []
    for phone in target:
        if phone in source:
            rows.append(MappedPhone(phone, phone, 0.0))
            continue
        dist = phone_distance(phone_vector(phone, target_lang, on_unknown)[None], src, distance)  # (S,)
        best = int(np.argmin(dist))  # first minimum = most frequent among ties
        rows.append(MappedPhone(phone, ranked[best], float(dist[best])))
    return rows


def write_mapping(rows: Sequence[MappedPhone], path: str | Path) -> None:
    """TSV ``target<TAB>source<TAB>distance`` with a header; changed phones are easy to grep."""
    lines = ["target\tsource\tdistance\n"] + [f"{r.target}\t{r.source}\t{r.distance:g}\n" for r in rows]
    Path(path).write_text("".join(lines), encoding="utf-8")


def read_mapping(path: str | Path) -> dict[str, str]:
    """target -> source phone from a file written by :func:`write_mapping`."""
    mapping = {}
    for number, line in enumerate(read_text_lines(path)[1:], 2):
        parts = line.split("\t")
        if len(parts) != 3:
            raise LegokitError(f"{path}:{number}: expected 'target<TAB>source<TAB>distance', got {line!r}")
        mapping[parts[0]] = parts[1]
    return mapping

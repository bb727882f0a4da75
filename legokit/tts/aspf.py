"""ASPF: angular similarity of phone frequencies, for choosing a source language (Do et al., SSW 2023).

ASPF(A, B) = 1 − arccos(cos(f_A, f_B)) / π, where f_L is language L's vector of relative phone
frequencies over the union of both inventories. Identical distributions give 1, disjoint inventories
(orthogonal vectors) 0.5; opposite vectors would give 0, which frequency vectors (≥ 0) cannot be, so for
languages ASPF lies in [0.5, 1].
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import numpy as np

from legokit.errors import LegokitError


def angular_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """1 − arccos(cos(a, b)) / π for two non-zero vectors of equal length."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        raise LegokitError("angular similarity needs non-zero vectors (is a phone inventory empty?)")
    cos = float(np.dot(a, b)) / (na * nb)
    return 1.0 - math.acos(min(1.0, max(-1.0, cos))) / math.pi


def aspf(counts_a: Mapping[str, int], counts_b: Mapping[str, int]) -> float:
    """ASPF of two languages' phone counts (relative frequencies over the union inventory)."""
    union = sorted(set(counts_a) | set(counts_b))
    a = np.array([counts_a.get(p, 0) for p in union], dtype=np.float64)
    b = np.array([counts_b.get(p, 0) for p in union], dtype=np.float64)
    return angular_similarity(a / max(a.sum(), 1.0), b / max(b.sum(), 1.0))


def rank_sources(target: Counter, sources: Mapping[str, Counter]) -> list[tuple[str, float]]:
    """Candidate source languages with ASPF to the target, most similar first."""
    return sorted(((lang, aspf(target, counts)) for lang, counts in sources.items()), key=lambda kv: -kv[1])

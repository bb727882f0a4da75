"""The ids of a vocabulary's special symbols, carried with every vocabulary interface (as fairseq2's
VocabularyInfo): built by :class:`legokit.data.tokenizer.Tokenizer` from its sentencepiece model, written
into the brick manifest's interfaces and read back from there by everything that needs an id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from legokit.errors import LegokitError

#: manifest key of each id
KEYS = {"blank": "blank_id", "pad": "pad_id", "unk": "unk_id", "bos": "bos_id", "eos": "eos_id"}


@dataclass(frozen=True)
class VocabularyInfo:
    """Size and special ids of a vocabulary: the CTC blank, padding, unknown, begin and end of sentence."""

    size: int
    blank: int
    pad: int
    unk: int
    bos: int
    eos: int

    def describe(self) -> dict[str, int]:
        """The ids as manifest keys (``blank_id``, ``pad_id``, ...)."""
        return {key: getattr(self, name) for name, key in KEYS.items()}

    @classmethod
    def from_interface(cls, entry: dict[str, Any], fallback: VocabularyInfo | None, origin: str) -> VocabularyInfo:
        """The vocabulary of a manifest interface ``entry``; an entry written before the ids were recorded
        (or a states interface) takes ``fallback``, the ids of the brick's embedded tokenizer."""
        if all(key in entry for key in KEYS.values()) and "size" in entry:
            try:
                return cls(int(entry["size"]), **{name: int(entry[key]) for name, key in KEYS.items()})
            except (TypeError, ValueError) as err:
                raise LegokitError(f"{origin}: manifest interface ids must be integers, got {entry}") from err
        if fallback is None:
            raise LegokitError(f"{origin}: the manifest interface has no vocabulary ids and the brick embeds no "
                               "tokenizer to derive them from; re-export it")
        return fallback

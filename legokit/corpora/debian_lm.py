"""`prepare_debian_lm_text`: English language-model text from Debian package descriptions.

Every synopsis and every sentence of every long description in the Translation-en index files of Debian's
main archive, one sentence a line::

    <out>/text          Kaldi text, ids `debdesc-<n>` (feed it to `legokit lm train --kaldi-text`)
    <out>/stats.json, README.md

Sentences are cut as the DDTP source of :func:`legokit.corpora.debian_mt.prepare_debian_mt` cuts them, and a
sentence is **left out** when its key (``normalize(sentence).casefold()``, the key of the MT split) falls in the
held-out hash region (``text_hash(key) < heldout_fraction``): the region from which prepare-debian-mt draws its
valid and test sentences, for every language pair. So with the same fraction (0.1 by default on both sides) no
valid or test sentence of a Debian MT set, nor of a speech set spoken from one, is LM text. Sentences equal to
one in an ``exclude`` file (Kaldi text, compared in the ASR scoring form) are left out as well. Usage::

    legokit prepare debian-lm-text --out data/lm_text --download-dir downloads --exclude data/test/text
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from legokit.corpora.debian import english_descriptions, parse_deb822, split_description
from legokit.corpora.sources import split_sentences
from legokit.corpora.text import asr_normalise, normalize, read_text, text_hash, write_text
from legokit.errors import LegokitError
from legokit.fileio import check_outputs

log = logging.getLogger(__name__)

README = """# English LM text from Debian package descriptions

Made by `legokit prepare debian-lm-text` (see docs/data_sources.md) from the apt index files Translation-en of
Debian's main archive: every synopsis and long-description sentence, except those whose key falls in the
held-out hash region of `legokit prepare debian-mt` (its valid and test sentences come from there) and those
equal to a sentence of an --exclude file.
Licence: each description belongs to its package and is under that package's licence (all DFSG-free, Debian
main); see /usr/share/doc/<package>/copyright or https://sources.debian.org.
"""


@dataclass
class LMTextConfig:
    """Options of :func:`prepare_debian_lm_text`; recorded in the `.completed` marker."""

    heldout_fraction: float = 0.1  # sentence hash region left out (prepare debian-mt's valid/test pool)
    synopses: bool = True  # also the one-line synopses
    exclude: list[str] = field(default_factory=list)  # Kaldi text files whose sentences are left out


def description_sentences(index_text: str, synopses: bool = True) -> dict[str, list[str]]:
    """{Description-md5 (or package): [sentence, ...]} from a Translation-en text, sentences normalised."""
    out: dict[str, list[str]] = {}
    for para in parse_deb822(index_text):
        value = para.get("Description-en") or para.get("Description")
        key = para.get("Description-md5") or para.get("Package")
        if not value or not key:
            continue
        synopsis, paragraphs = split_description(value)
        sentences = [synopsis] if synopses else []
        for paragraph in paragraphs:
            sentences.extend(split_sentences(paragraph))
        out[key] = [s for s in (normalize(s) for s in sentences) if s]
    return out


def _excluded(files: list[str]) -> set[str]:
    forms: set[str] = set()
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise LegokitError(f"--exclude {path}: no such file (expected a Kaldi text file: <id> <sentence>)")
        forms.update(asr_normalise(text) for text in read_text(path).values())
    return forms


def prepare_debian_lm_text(out_dir: Path | str, download_dir: Path | str, cfg: LMTextConfig | None = None,
                           lists_dir: Path | str | None = None, force: bool = False) -> dict:
    """Write `<out_dir>/text`; `lists_dir` defaults to a private apt update under `download_dir`."""
    cfg = cfg or LMTextConfig()
    out_dir = Path(out_dir)
    check_outputs(cfg.exclude, [out_dir / "text", out_dir / "stats.json", out_dir / "README.md"])
    excluded = _excluded(cfg.exclude)
    digest = hashlib.sha1("\n".join(sorted(excluded)).encode("utf-8")).hexdigest()
    options = json.dumps({**asdict(cfg), "excluded_sentences": digest}, sort_keys=True)
    marker = out_dir / ".completed"
    if marker.exists() and marker.read_text() == options and not force:
        return json.loads((out_dir / "stats.json").read_text())
    descriptions: dict[str, list[str]] = {}
    for index_text in english_descriptions(download_dir, lists_dir):
        descriptions.update(description_sentences(index_text, cfg.synopses))
    counts = {"descriptions": len(descriptions), "sentences": 0, "heldout_region": 0, "excluded": 0, "kept": 0}
    kept: dict[str, str] = {}
    for key in sorted(descriptions):
        for sentence in descriptions[key]:
            counts["sentences"] += 1
            if text_hash(sentence.casefold()) < cfg.heldout_fraction:
                counts["heldout_region"] += 1
            elif excluded and asr_normalise(sentence) in excluded:
                counts["excluded"] += 1
            else:
                kept[f"debdesc-{len(kept) + 1:07d}"] = sentence
    counts["kept"] = len(kept)
    counts["words"] = sum(len(s.split()) for s in kept.values())
    write_text(out_dir / "text", kept)
    log.info("debian-lm-text: %s", counts)
    (out_dir / "stats.json").write_text(json.dumps(counts, indent=1) + "\n", encoding="utf-8")
    (out_dir / "README.md").write_text(README + f"\nCounts: {json.dumps(counts)}\n", encoding="utf-8")
    marker.write_text(options)
    return counts

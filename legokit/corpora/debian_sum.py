"""`prepare_debian_sum`: a summarisation set from Debian package descriptions.

The long description is the document, the one-line synopsis its summary::

    <out>/{train,valid,test}/text.doc, text.sum     ids `debsum-<package>`
    <out>/stats.json, README.md

Spoken with :func:`legokit.corpora.espeak.make_espeak_speech` (speak="doc", target="sum") it becomes a
speech summarisation set with long inputs. Usage::

    legokit prepare debian-sum --out data/debsum --download-dir downloads
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from legokit.corpora.debian import english_descriptions, parse_deb822, split_description
from legokit.corpora.text import normalize, split_by_hash, text_hash, write_text

log = logging.getLogger(__name__)

README = """# Debian package descriptions as a summarisation set

Made by `legokit prepare debian-sum` (see docs/data_sources.md) from the apt index files
Translation-en of Debian's main archive: document = long description, summary = synopsis.
Licence: each description belongs to its package and is under that package's licence (all DFSG-free,
Debian main); see /usr/share/doc/<package>/copyright or https://sources.debian.org.
"""


@dataclass
class SumPrepConfig:
    """Options of :func:`prepare_debian_sum`; recorded in the `.completed` marker."""

    min_words: int = 30  # documents shorter than this (in words) are dropped
    max_words: int = 400  # documents longer than this are dropped (0: no limit)
    max_docs: int = 0  # cap on documents before splitting, chosen by hash (0: all)
    valid_size: int = 500  # documents in valid
    test_size: int = 1000  # documents in test
    heldout_fraction: float = 0.1  # document hash region reserved for valid/test


def description_pairs(index_text: str) -> dict[str, tuple[str, str]]:
    """{package: (document, summary)} from a Translation-en (or Packages with long descriptions) text."""
    out = {}
    for para in parse_deb822(index_text):
        value = para.get("Description-en") or para.get("Description")
        name = para.get("Package")
        if not value or not name:
            continue
        synopsis, paragraphs = split_description(value)
        if paragraphs:
            out[name] = (normalize(" ".join(paragraphs)), normalize(synopsis))
    return out


def prepare_debian_sum(out_dir: Path | str, download_dir: Path | str, cfg: SumPrepConfig | None = None,
                       lists_dir: Path | str | None = None, force: bool = False) -> dict:
    """Build the summarisation dirs; `lists_dir` defaults to a private apt update under `download_dir`."""
    cfg = cfg or SumPrepConfig()
    out_dir = Path(out_dir)
    options = json.dumps(asdict(cfg), sort_keys=True)
    marker = out_dir / ".completed"
    if marker.exists() and marker.read_text() == options and not force:
        return json.loads((out_dir / "stats.json").read_text())
    docs: dict[str, tuple[str, str]] = {}
    for index_text in english_descriptions(download_dir, lists_dir):
        docs.update(description_pairs(index_text))
    counts = {"packages": len(docs)}
    seen: set[str] = set()
    kept = []
    for name in sorted(docs):
        doc, summary = docs[name]
        n = len(doc.split())
        if n >= cfg.min_words and (not cfg.max_words or n <= cfg.max_words) and doc not in seen and summary:
            seen.add(doc)
            kept.append((name, doc, summary))
    counts["kept"] = len(kept)
    if cfg.max_docs:
        kept = sorted(kept, key=lambda k: text_hash(k[1]))[:cfg.max_docs]
    splits = split_by_hash([doc for _, doc, _ in kept], {"test": cfg.test_size, "valid": cfg.valid_size},
                           cfg.heldout_fraction)
    for split in ("train", "valid", "test"):
        chosen = [(f"debsum-{name}", doc, summ) for (name, doc, summ), s in zip(kept, splits) if s == split]
        write_text(out_dir / split / "text.doc", {uid: doc for uid, doc, _ in chosen})
        write_text(out_dir / split / "text.sum", {uid: summ for uid, _, summ in chosen})
        counts[split] = len(chosen)
    log.info("debian-sum: %s", counts)
    (out_dir / "stats.json").write_text(json.dumps(counts, indent=1) + "\n", encoding="utf-8")
    (out_dir / "README.md").write_text(README + f"\nCounts: {json.dumps(counts)}\n", encoding="utf-8")
    marker.write_text(options)
    return counts

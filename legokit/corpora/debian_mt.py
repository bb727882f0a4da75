"""`prepare_debian_mt`: real De-En / Ro-En parallel text from Debian packages, as Kaldi-style MT dirs.

    <out>/{train,valid,test}/text.<xx>, text.en    ids `<source>-<n>`, aligned across the two files
    <out>/stats.json                               counts per source and stage
    <out>/README.md                                sources and their licences

Usage::

    legokit prepare debian-mt --pair de-en --out data/de-en --download-dir downloads
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from legokit.corpora.debian import fetch_apt_lists, fetch_deb, index_files, read_index
from legokit.corpora.sources import ddtp_pairs, ding_pairs, mo_pairs
from legokit.corpora.text import (
    FilterConfig,
    Pair,
    dedup,
    keep_pair,
    normalize,
    split_by_hash,
    text_hash,
    write_text,
)
from legokit.errors import LegokitError

log = logging.getLogger(__name__)

PAIRS = ("de-en", "ro-en")
SPLITS = ("train", "valid", "test")
#: evaluation split sizes (valid, test) per pair when none are given
DEFAULT_SIZES = {"de-en": (500, 1000), "ro-en": (100, 250)}


@dataclass(frozen=True)
class Source:
    """One parallel-text source: where it comes from and under which licence."""

    tag: str  # id prefix and stats key
    what: str  # one line for the README
    licence: str
    read: Callable[[str, Path], Iterator[tuple[str, str]]]  # (lang, download_dir) -> (foreign, en)


def _system_mo(lang: str, download_dir: Path) -> Iterator[tuple[str, str]]:
    return mo_pairs([Path("/usr/share/locale")], lang)


def _package_mo(package: str) -> Callable[[str, Path], Iterator[tuple[str, str]]]:
    def read(lang: str, download_dir: Path) -> Iterator[tuple[str, str]]:
        return mo_pairs([fetch_deb(package.format(lang=lang), download_dir)], lang)
    return read


def _ding(lang: str, download_dir: Path) -> Iterator[tuple[str, str]]:
    if lang != "de":
        return iter(())
    return ding_pairs(fetch_deb("trans-de-en", download_dir) / "usr/share/trans/de-en")


def _ddtp(lang: str, download_dir: Path) -> Iterator[tuple[str, str]]:
    lists = fetch_apt_lists(download_dir, ["en", "de", "ro"])
    english = "\n\n".join(read_index(p) for p in index_files(lists, "Translation-en"))
    foreign = "\n\n".join(read_index(p) for p in index_files(lists, f"Translation-{lang}"))
    return ddtp_pairs(english, foreign, lang)


SOURCES: tuple[Source, ...] = (
    Source("ding", "Ding dictionary (Debian trans-de-en), example sentences in entries", "GPL-2.0-or-later",
           _ding),
    Source("ddtp", "Debian package descriptions and their DDTP translations (Translation-<lang>)",
           "each package's description is under that package's licence (all DFSG-free, Debian main); "
           "translations by the Debian Description Translation Project", _ddtp),
    Source("mo-libreoffice", "gettext catalogs of Debian libreoffice-l10n-<lang>", "MPL-2.0",
           _package_mo("libreoffice-l10n-{lang}")),
    Source("mo-gcc", "gettext catalogs of Debian gcc-12-locales", "GPL-3.0-or-later",
           _package_mo("gcc-12-locales")),
    Source("mo-gnucash", "gettext catalogs of Debian gnucash-common", "GPL-2.0-or-later",
           _package_mo("gnucash-common")),
    Source("mo-system", "gettext catalogs installed on the preparing machine (/usr/share/locale)",
           "each catalog under its package's licence, see /usr/share/doc/<package>/copyright", _system_mo),
)


@dataclass
class MTPrepConfig:
    """Options of :func:`prepare_debian_mt`; recorded in the `.completed` marker."""

    pair: str = "de-en"  # language pair, foreign-English: de-en or ro-en
    valid_size: int = 0  # sentences in valid (0: the pair's default, see DEFAULT_SIZES)
    test_size: int = 0  # sentences in test (0: the pair's default)
    heldout_fraction: float = 0.1  # English hash region kept for valid/test (same for all pairs)
    max_pairs: int = 0  # cap on pairs after filtering and de-duplication, chosen by hash (0: no cap)
    sources: list[str] = field(default_factory=lambda: [s.tag for s in SOURCES])  # source tags, in priority
    filter: FilterConfig = field(default_factory=FilterConfig)  # the strict filter


def _clean(raw: Iterable[tuple[str, str]], tag: str, cfg: FilterConfig, counts: Counter) -> Iterator[Pair]:
    for src, en in raw:
        counts[f"{tag}.raw"] += 1
        src, en = normalize(src), normalize(en)
        if en and keep_pair(src, en, cfg):
            counts[f"{tag}.filtered"] += 1
            yield Pair(tag, src, en)


def _write_readme(out_dir: Path, cfg: MTPrepConfig, stats: dict) -> None:
    lines = [f"# {cfg.pair} parallel text from Debian packages", "",
             "Made by `legokit prepare debian-mt` (see docs/data_sources.md). Sources and licences:", ""]
    lines += [f"- `{s.tag}`: {s.what}. Licence: {s.licence}." for s in SOURCES if s.tag in cfg.sources]
    lines += ["", "Counts:", "", "```", json.dumps(stats, indent=1), "```", ""]
    (out_dir / "README.md").write_text("\n".join(lines), encoding="utf-8")


def prepare_debian_mt(out_dir: Path | str, download_dir: Path | str, cfg: MTPrepConfig | None = None,
                      force: bool = False) -> dict:
    """Build the MT data dirs for `cfg.pair` from Debian sources; return the counts (also in stats.json).

    Idempotent: skipped when ``<out>/.completed`` records the same options, unless `force`.
    """
    cfg = cfg or MTPrepConfig()
    if cfg.pair not in PAIRS:
        raise LegokitError(f"unknown language pair '{cfg.pair}'; expected one of {', '.join(PAIRS)}")
    unknown = set(cfg.sources) - {s.tag for s in SOURCES}
    if unknown:
        raise LegokitError(f"unknown source(s) {sorted(unknown)}; "
                           f"expected some of {[s.tag for s in SOURCES]}")
    out_dir, download_dir = Path(out_dir), Path(download_dir)
    options = json.dumps(asdict(cfg), sort_keys=True)
    marker = out_dir / ".completed"
    if marker.exists() and marker.read_text() == options and not force:
        log.info("%s is complete with the same options; skipping", out_dir)
        return json.loads((out_dir / "stats.json").read_text())
    lang = cfg.pair.split("-")[0]
    default_valid, default_test = DEFAULT_SIZES[cfg.pair]
    sizes = {"test": cfg.test_size or default_test, "valid": cfg.valid_size or default_valid}

    counts: Counter = Counter()
    by_tag = {s.tag: s for s in SOURCES}
    pairs: list[Pair] = []
    for tag in cfg.sources:
        pairs += _clean(by_tag[tag].read(lang, download_dir), tag, cfg.filter, counts)
    pairs = dedup(pairs)
    if cfg.max_pairs:
        pairs = sorted(pairs, key=lambda p: text_hash(p.src + "\t" + p.en))[:cfg.max_pairs]
    splits = split_by_hash([p.en.casefold() for p in pairs], sizes, cfg.heldout_fraction)

    texts: dict[str, dict[str, dict[str, str]]] = {s: {lang: {}, "en": {}} for s in SPLITS}
    numbers: Counter = Counter()
    for pair, split in zip(pairs, splits):
        counts[f"{pair.source}.dedup"] += 1
        numbers[pair.source] += 1
        if split is None:
            counts[f"{pair.source}.heldout_unused"] += 1
            continue
        counts[f"{pair.source}.{split}"] += 1
        uid = f"{pair.source}-{numbers[pair.source]:06d}"
        texts[split][lang][uid], texts[split]["en"][uid] = pair.src, pair.en
    for split, by_lang in texts.items():
        for code, lines in by_lang.items():
            write_text(out_dir / split / f"text.{code}", lines)
        counts[f"total.{split}"] = len(by_lang["en"])

    stats = {"pair": cfg.pair, "counts": dict(sorted(counts.items()))}
    for key, value in stats["counts"].items():
        log.info("%s %s: %d", cfg.pair, key, value)
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    _write_readme(out_dir, cfg, stats)
    marker.write_text(options)
    return stats

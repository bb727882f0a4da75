"""WMT16 news translation (De-En, Ro-En) as Kaldi-style MT dirs.

Output (``<out>/{train,valid,test}/text.<src>``, ``text.en``; ids aligned across the two files)::

    train   de-en: Europarl v7 + CommonCrawl + News Commentary v11   (the WMT16 constrained data,
            ro-en: Europarl v8 + SETIMES2                             as in fairseq/mBART WMT16 setups)
    valid   de-en: newstest2015           ro-en: newsdev2016
    test    newstest2016 (what ``sacrebleu -t wmt16 -l <pair>`` scores)

The dev/test archives, their MD5 sums and the member paths are sacrebleu's own dataset table, so the
references are byte-for-byte the ones sacrebleu scores against (segments extracted from the
WMT "fake SGML" exactly as sacrebleu does: ``<seg ...>text</seg>``, whitespace collapsed, entities
kept). statmt.org and OPUS publish no checksums for the training archives: they are checked by
opening them and finding every expected file, and the download stage records their MD5 in
``<root>/MD5SUMS.unverified`` so a later re-download can be compared.

Training pairs are cleaned like Moses ``clean-corpus-n.perl`` as fairseq's WMT scripts call it:
both sides 1..``max_words`` words and a word-count ratio of at most ``max_ratio``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import zip_longest
from pathlib import Path

from sacrebleu.dataset import DATASETS

from legokit.corpora.download import Resource, download, extract, md5sum
from legokit.corpora.text import write_text
from legokit.data.datadir import validate_text_dir
from legokit.errors import LegokitError
from legokit.fileio import iter_text_lines

log = logging.getLogger(__name__)

PAIRS = ("de-en", "ro-en")
STATMT = "https://www.statmt.org"
DATA_STATMT = "https://data.statmt.org/wmt16/translation-task"

#: training corpora per pair: (tag, archive resource, file stem inside the archive: <stem>.<lang>)
TRAIN: dict[str, list[tuple[str, Resource, str]]] = {
    "de-en": [
        ("europarl_v7", Resource(f"{STATMT}/wmt13/training-parallel-europarl-v7.tgz",
                                 "training-parallel-europarl-v7.tgz", note="no published checksum"),
         "europarl-v7.de-en"),
        ("commoncrawl", Resource(f"{STATMT}/wmt13/training-parallel-commoncrawl.tgz",
                                 "training-parallel-commoncrawl.tgz", note="no published checksum"),
         "commoncrawl.de-en"),
        ("news_commentary_v11", Resource(f"{DATA_STATMT}/training-parallel-nc-v11.tgz",
                                         "training-parallel-nc-v11.tgz", note="no published checksum"),
         "news-commentary-v11.de-en"),
    ],
    "ro-en": [
        ("europarl_v8", Resource(f"{DATA_STATMT}/training-parallel-ep-v8.tgz", "training-parallel-ep-v8.tgz",
                                 note="no published checksum"),
         "europarl-v8.ro-en"),
        ("setimes2", Resource("https://object.pouta.csc.fi/OPUS-SETIMES/v2/moses/en-ro.txt.zip",
                              "SETIMES2.en-ro.txt.zip", note="OPUS publishes no checksum"),
         "SETIMES*.en-ro"),  # OPUS names the files SETIMES.en-ro.*; the 2016 release SETIMES2.en-ro.*
    ],
}

#: (split, sacrebleu dataset name) for the evaluation sets of each pair
EVAL = {"de-en": [("valid", "wmt15"), ("test", "wmt16")], "ro-en": [("valid", "wmt16/dev"), ("test", "wmt16")]}
_SEG = re.compile(r"<seg.*?>(.*)</seg>.*?")


def eval_resource(dataset: str) -> Resource:
    """The archive of a sacrebleu WMT dataset, with sacrebleu's published MD5."""
    ds = DATASETS[dataset]
    url = ds.data[0]
    name = dataset.replace("/", "-") + "-" + url.rsplit("/", 1)[-1]
    return Resource(url, name, ds.md5[0], note=f"MD5 from sacrebleu's dataset table ({dataset})")


def resources(pair: str) -> list[Resource]:
    """Every archive the preparation of ``pair`` needs (training and evaluation)."""
    _check_pair(pair)
    evals = {eval_resource(name) for _, name in EVAL[pair]}
    return [res for _, res, _ in TRAIN[pair]] + sorted(evals, key=lambda r: r.filename)


def _check_pair(pair: str) -> None:
    if pair not in PAIRS:
        raise LegokitError(f"unknown WMT16 pair '{pair}'; choose one of {', '.join(PAIRS)}")


def read_sgm(path: Path) -> list[str]:
    """Segments of a WMT fake-SGML file, in order, cleaned as sacrebleu does."""
    if not path.is_file():
        raise LegokitError(f"{path}: WMT test file not found; re-run the download stage or check WMT16 in db.sh")
    return [re.sub(r"\s+", " ", _SEG.sub(r"\1", line).strip())
            for line in iter_text_lines(path) if line.startswith("<seg ")]


def _find(root: Path, name: str) -> Path:
    hits = sorted(root.rglob(name))
    if not hits:
        raise LegokitError(f"{root}: no file '{name}' below it; the archive is incomplete or WMT16 in db.sh "
                           "points at the wrong directory (it must hold the extracted archives)")
    return hits[0]


def read_parallel(src_path: Path, en_path: Path) -> Iterator[tuple[str, str]]:
    """(source, English) line pairs of two aligned plain-text files; unequal lengths are an error."""
    pairs = zip_longest(iter_text_lines(src_path, errors="replace"), iter_text_lines(en_path, errors="replace"))
    for n, (src, en) in enumerate(pairs):
        if src is None or en is None:
            raise LegokitError(f"{src_path} and {en_path} have different numbers of lines (differ after line "
                               f"{n}); the download is corrupt: delete and re-extract it")
        yield src.strip(), en.strip()


@dataclass
class WMTPrepConfig:
    """How to clean the training pairs (Moses clean-corpus-n, as in fairseq's WMT preparation)."""

    max_words: int = 250    # longest side in words (fairseq: clean-corpus-n.perl ... 1 250)
    max_ratio: float = 1.5  # longest/shortest word-count ratio (fairseq: -ratio 1.5)


def keep(src: str, en: str, cfg: WMTPrepConfig) -> bool:
    """Moses clean-corpus-n: both sides non-empty, at most ``max_words`` words, ratio <= ``max_ratio``."""
    a, b = len(src.split()), len(en.split())
    return 0 < a <= cfg.max_words and 0 < b <= cfg.max_words and max(a, b) <= cfg.max_ratio * min(a, b)


def _write_pair(out: Path, src_lang: str, pairs: dict[str, tuple[str, str]]) -> None:
    write_text(out / f"text.{src_lang}", {k: s for k, (s, _) in pairs.items()})
    write_text(out / "text.en", {k: e for k, (_, e) in pairs.items()})


def prepare_wmt16(root: str | Path, out_dir: str | Path, pair: str = "de-en",
                  cfg: WMTPrepConfig | None = None) -> dict:
    """Read the extracted WMT16 archives under ``root`` into ``out_dir/{train,valid,test}``; returns stats."""
    _check_pair(pair)
    cfg = cfg or WMTPrepConfig()
    root, out = Path(root), Path(out_dir)
    if not root.is_dir():
        raise LegokitError(f"{root}: WMT16 directory not found; run the download stage or set WMT16 in db.sh")
    src_lang = pair.split("-")[0]
    stats: dict = {"pair": pair, "config": asdict(cfg), "train": {}}
    train: dict[str, tuple[str, str]] = {}
    for tag, _, stem in TRAIN[pair]:
        lang_of = {src_lang: _find(root, f"{stem}.{src_lang}"), "en": _find(root, f"{stem}.en")}
        total = kept = 0
        for total, (src, en) in enumerate(read_parallel(lang_of[src_lang], lang_of["en"]), start=1):
            if keep(src, en, cfg):
                kept += 1
                train[f"{tag}-{total:08d}"] = (src, en)
        stats["train"][tag] = {"lines": total, "kept": kept}
        log.info("%s %s: kept %d of %d pairs", pair, tag, kept, total)
    _write_pair(out / "train", src_lang, train)
    for split, dataset in EVAL[pair]:
        src_file, ref_file = DATASETS[dataset].langpairs[pair]
        src, ref = read_sgm(_find(root, Path(src_file).name)), read_sgm(_find(root, Path(ref_file).name))
        if len(src) != len(ref) or not src:
            raise LegokitError(f"{root}: {src_file} has {len(src)} segments but {ref_file} has {len(ref)}")
        name = Path(src_file).name.split("-")[0]  # newstest2016, newsdev2016, ...
        _write_pair(out / split, src_lang, {f"{name}-{i:05d}": p for i, p in enumerate(zip(src, ref), start=1)})
        stats[split] = {"set": name, "sacrebleu": dataset, "segments": len(src)}
    for split in ("train", "valid", "test"):
        validate_text_dir(out / split, [src_lang, "en"])
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    return stats


def missing_files(root: Path, pair: str) -> list[str]:
    """Names of the training and evaluation files of ``pair`` not found below ``root``."""
    src = pair.split("-")[0]
    names = [f"{stem}.{lang}" for _, _, stem in TRAIN[pair] for lang in (src, "en")]
    names += [Path(f).name for _, ds in EVAL[pair] for f in DATASETS[ds].langpairs[pair]]
    return [n for n in names if not root.is_dir() or next(root.rglob(n), None) is None]


def download_wmt16(root: str | Path, pair: str = "de-en", progress: bool = True) -> Path:
    """Download (resumably) and extract every archive of ``pair`` into ``root``; returns ``root``.
    Nothing is fetched when ``root`` already holds every file the preparation reads."""
    root = Path(root)
    _check_pair(pair)
    if not missing_files(root, pair):
        log.info("%s holds WMT16 %s already: nothing to download", root, pair)
        return root
    for res in resources(pair):
        path = download(res, root, hint="set WMT16 in db.sh to a directory holding the extracted archives",
                        progress=progress)
        extract(path, root)
        if res.md5 is None:
            record_md5(path, root / "MD5SUMS.unverified")
    return root


def record_md5(path: Path, listing: Path) -> None:
    """Add ``<md5>  <name>`` for a file without a published checksum (once per name)."""
    known = listing.read_text().split() if listing.is_file() else []
    if path.name not in known:
        with open(listing, "a") as f:
            f.write(f"{md5sum(path)}  {path.name}\n")

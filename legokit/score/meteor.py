"""METEOR (Banerjee & Lavie 2005) offline: nltk's implementation over WordNet 3.0 from Debian.

nltk's ``meteor_score`` matches exact words, Porter stems and WordNet synonyms; nltk normally downloads
WordNet at run time, which is impossible here. Debian's ``wordnet-base`` package ships the WordNet 3.0
database (``/usr/share/wordnet``: data.*, index.*, *.exc) under the WordNet licence. It lacks the
``lexnames`` file nltk's reader opens, so that is rebuilt from the package's own lexnames(5WN) manual page
(45 lexicographer files: number, name, syntactic category).

Where it comes from, first match wins:
    ``$LEGOKIT_WORDNET``            a directory nltk's WordNetCorpusReader reads (e.g. an nltk_data copy)
    ``<download_dir>/extracted/wordnet-base/usr/share/wordnet``  ``apt-get download wordnet-base`` (6.5 MB,
                                    cached; default download_dir ~/.cache/legokit/debian), lexnames added

Segments are lower-cased and split into words and punctuation marks (nltk's ``word_tokenize`` needs the
punkt data, another download); the score is the mean segment METEOR ×100 (α 0.9, β 3, γ 0.5, nltk's
defaults), like ROUGE here.
"""

from __future__ import annotations

import functools
import gzip
import os
import re
from collections.abc import Sequence
from pathlib import Path

from legokit.errors import LegokitError

DEFAULT_DOWNLOAD_DIR = Path.home() / ".cache" / "legokit" / "debian"
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_TOKEN = re.compile(r"\w+|[^\w\s]")


def lexnames_from_manpage(manpage: Path) -> str:
    """The ``lexnames`` file (``NN<TAB>name<TAB>category`` per line) from the lexnames(5WN) manual page."""
    rows = []
    for line in gzip.open(manpage, "rt", encoding="utf-8", errors="replace", newline="\n"):
        fields = line.split("\t")
        if len(fields) >= 2 and re.fullmatch(r"\d\d", fields[0]):
            name = fields[1].strip()
            category = _CATEGORY.get(name.split(".")[0])
            if category is None:
                raise LegokitError(f"{manpage}: lexicographer file {fields[0]} is named {name!r}; expected "
                                   f"noun.*, verb.*, adj.* or adv.*")
            rows.append(f"{fields[0]}\t{name}\t{category}\n")
    if [int(row[:2]) for row in rows] != list(range(len(rows))) or len(rows) < 45:
        raise LegokitError(f"{manpage}: expected the 45 lexicographer files numbered 00-44, read {len(rows)}")
    return "".join(rows)


def wordnet_root(download_dir: str | Path | None = None) -> Path:
    """A directory nltk's WordNetCorpusReader can read (see the module docstring for where it comes from)."""
    if os.environ.get("LEGOKIT_WORDNET"):
        root = Path(os.environ["LEGOKIT_WORDNET"])
        if not (root / "data.noun").is_file() or not (root / "lexnames").is_file():
            raise LegokitError(f"LEGOKIT_WORDNET={root}: expected WordNet 3.0 files (data.noun, lexnames, ...)")
        return root
    from legokit.corpora.debian import fetch_deb

    tree = fetch_deb("wordnet-base", download_dir or DEFAULT_DOWNLOAD_DIR)
    root, manpage = tree / "usr/share/wordnet", tree / "usr/share/man/man5/lexnames.5WN.gz"
    if (root / "lexnames").is_file():
        return root
    if not (root / "data.noun").is_file() or not manpage.is_file():
        raise LegokitError(f"{tree}: the wordnet-base package lacks usr/share/wordnet/data.noun or the "
                           "lexnames(5WN) page; delete the directory to fetch it again")
    # nltk opens files under its root only, and refuses symlinks and hard links: lexnames goes in place
    partial = root / "lexnames.partial"
    partial.write_text(lexnames_from_manpage(manpage), encoding="utf-8")
    partial.replace(root / "lexnames")
    return root


@functools.lru_cache(maxsize=2)
def load_wordnet(root: Path):
    """nltk's WordNet reader over ``root`` (WordNet 3.0; no multilingual data)."""
    import warnings

    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _WordNet30(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            return None  # this is WordNet 3.0 itself: no mapping to nltk's default copy (which is absent)

    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))  # nltk only reads corpora under its data path
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions are not available")
        return _WordNet30(str(root), None)


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks."""
    return _TOKEN.findall(text.lower())


def meteor(refs: Sequence[str], hyps: Sequence[str], download_dir: str | Path | None = None) -> float:
    """Mean segment METEOR ×100 of ``hyps`` against one reference each (nltk, WordNet 3.0 synonyms)."""
    return 100.0 * sum(meteor_segments(refs, hyps, download_dir)) / max(len(refs), 1)


def meteor_segments(refs: Sequence[str], hyps: Sequence[str], download_dir: str | Path | None = None
                    ) -> list[float]:
    """Per segment METEOR (0-1), as :func:`meteor` averages them."""
    from nltk.translate.meteor_score import single_meteor_score

    wordnet = load_wordnet(wordnet_root(download_dir))
    return [single_meteor_score(tokenize(ref), tokenize(hyp), wordnet=wordnet) for ref, hyp in zip(refs, hyps)]

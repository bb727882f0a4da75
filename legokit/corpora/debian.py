"""Debian packages and apt index files as a data source, fetched without installing anything.

Downloads are cached under a download dir and marked done with ``.completed`` files (lhotse style), so
re-running is free and ``force=True`` redoes the work:

    <download_dir>/debs/NAME_*.deb              apt-get download
    <download_dir>/extracted/NAME/              dpkg-deb -x
    <download_dir>/apt/lists/                   a private `apt-get update` (translations included)
"""

from __future__ import annotations

import gzip
import logging
import lzma
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from legokit.errors import LegokitError
from legokit.fileio import split_lines

log = logging.getLogger(__name__)

APT_HELPER = "/usr/lib/apt/apt-helper"


def require_tool(tool: str, purpose: str, install_hint: str) -> str:
    """Return the path of `tool` or raise a LegokitError saying what it is for and how to get it."""
    path = shutil.which(tool)
    if path is None:
        raise LegokitError(f"'{tool}' was not found on PATH; it is needed to {purpose}. {install_hint}")
    return path


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    """Run `cmd`; on failure raise a LegokitError with the tail of its stderr and a next step."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise LegokitError(f"{what} failed (exit {proc.returncode}): `{' '.join(cmd)}`\n{tail}\n"
                           "If apt does not know the package, run `apt-get update` (as root) and retry.")
    return proc.stdout


def fetch_deb(name: str, download_dir: Path | str, force: bool = False) -> Path:
    """Download Debian package `name` (apt-get download) and unpack it (dpkg-deb -x); return the tree.

    Cached: a second call returns ``<download_dir>/extracted/<name>`` without touching the network.
    """
    download_dir = Path(download_dir).resolve()
    target = download_dir / "extracted" / name
    marker = target / ".completed"
    if marker.exists() and not force:
        return target
    hint = "Run this on Debian/Ubuntu, where apt-get and dpkg-deb come with the base system."
    apt_get = require_tool("apt-get", f"download the Debian package '{name}'", hint)
    dpkg_deb = require_tool("dpkg-deb", f"unpack the Debian package '{name}'", hint)
    debs = download_dir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    existing = sorted(debs.glob(f"{name}_*.deb"))
    if force or not existing:
        for old in existing:
            old.unlink()
        log.info("apt-get download %s -> %s", name, debs)
        _run([apt_get, "download", name], f"downloading Debian package '{name}'", cwd=debs)
        existing = sorted(debs.glob(f"{name}_*.deb"))
        if not existing:
            raise LegokitError(f"apt-get download {name} wrote no {name}_*.deb into {debs}")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    _run([dpkg_deb, "-x", str(existing[-1]), str(target)], f"unpacking {existing[-1]}")
    marker.touch()
    return target


def fetch_apt_lists(download_dir: Path | str, languages: list[str], force: bool = False) -> Path:
    """Run `apt-get update` into a private state dir with ``Acquire::Languages`` set; return the lists dir.

    The machine's apt configuration and lists are left alone (everything goes through -o options). The
    lists dir then holds ``*_Packages.*`` and ``*_i18n_Translation-<lang>.*`` index files.
    """
    root = Path(download_dir).resolve() / "apt"
    lists = root / "lists"
    marker = root / f".completed.{'-'.join(languages)}"
    # an update for more languages serves fewer; a new update for fewer would make apt delete the others' files
    done = [set(m.name.split(".", 2)[2].split("-")) for m in root.glob(".completed.*")] if root.is_dir() else []
    if not force and any(set(languages) <= langs for langs in done):
        return lists
    apt_get = require_tool("apt-get", "fetch Debian's package descriptions and their translations",
                           "Run this on Debian/Ubuntu, or pass an existing apt lists dir.")
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    log.info("private apt-get update (languages %s) -> %s", ",".join(languages), lists)
    _run([apt_get, "update", f"-o=Dir::State::Lists={lists}", f"-o=Dir::Cache={root / 'cache'}",
          f"-o=Acquire::Languages={','.join(languages)}"], "apt-get update into a private lists dir")
    marker.touch()
    return lists


def english_descriptions(download_dir: Path | str, lists_dir: Path | str | None = None) -> list[str]:
    """The texts of the Translation-en index files (Debian main) in `lists_dir`, by default a private apt update
    under `download_dir` (:func:`fetch_apt_lists`)."""
    lists = Path(lists_dir) if lists_dir else fetch_apt_lists(download_dir, ["en"])
    if not lists.is_dir():
        raise LegokitError(f"apt lists dir {lists} does not exist; omit --lists-dir to fetch one")
    return [read_index(path) for path in index_files(lists, "Translation-en")]


def read_index(path: Path) -> str:
    """Text of an apt index file, decompressing .gz/.xz (stdlib) and .lz4 (apt-helper cat-file)."""
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode("utf-8")
    if path.suffix == ".xz":
        return lzma.decompress(path.read_bytes()).decode("utf-8")
    if path.suffix == ".lz4":
        return _run([APT_HELPER, "cat-file", str(path)], f"decompressing {path}")
    return path.read_bytes().decode("utf-8")


def index_files(lists_dir: Path, kind: str) -> list[Path]:
    """Index files of one kind ('Packages', 'Translation-de', ...) in an apt lists dir, main section only."""
    files = [p for p in sorted(lists_dir.glob(f"*_main_*{kind}*")) if p.name.split("_")[-1].startswith(kind)]
    if not files:
        raise LegokitError(f"no '{kind}' index file in {lists_dir}; fetch one with fetch_apt_lists() "
                           "(`legokit prepare` does it) or point to an apt lists dir that has translations")
    return files


def parse_deb822(text: str) -> Iterator[dict[str, str]]:
    """Paragraphs of a Debian control-style file; continuation lines keep their leading space and newline."""
    fields: dict[str, str] = {}
    key = ""
    for line in split_lines(text):
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, ""
        elif line[0] in " \t" and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    if fields:
        yield fields


def split_description(value: str) -> tuple[str, list[str]]:
    """A Description field -> (synopsis, long-description paragraphs as cleaned one-line strings).

    ' .' lines separate paragraphs; list bullets (*, -, +, o) are removed, whitespace is collapsed.
    """
    synopsis, *lines = value.split("\n")
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip() == ".":
            paragraphs.append([])
        else:
            words = line.split()
            if words and words[0] in {"*", "-", "+", "o"}:
                words = words[1:]
            paragraphs[-1].append(" ".join(words))
    return synopsis.strip(), [" ".join(p).strip() for p in paragraphs if " ".join(p).strip()]

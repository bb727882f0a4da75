"""Resumable downloads with progress and checksums, and archive extraction with done-markers.

A download goes to ``<file>.part`` and resumes with an HTTP ``Range`` request after a network failure
or a kill; the file gets its final name only once complete and verified. Every failure raises
:class:`LegokitError` saying what to do without the network (copy the file into place, or point the
recipe's db.sh variable at a copy already on disk).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from legokit.errors import LegokitError
from legokit.progress import progress_bar

log = logging.getLogger(__name__)

CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    """One downloadable file of a corpus."""

    url: str
    filename: str                 # name of the downloaded file in the download dir
    md5: str | None = None        # published MD5 checksum; None when the provider publishes none
    note: str = ""               # where the checksum (or its absence) comes from


def md5sum(path: Path) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _offline_hint(dest: Path, hint: str) -> str:
    return (f"Without network access, fetch the file elsewhere and copy it to {dest}"
            + (f", or {hint}" if hint else "") + ".")


def _verify(path: Path, md5: str | None) -> None:
    if md5 is None:
        return
    actual = md5sum(path)
    if actual != md5:
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        raise LegokitError(f"{path}: MD5 {actual} differs from the published {md5}; the file was moved to "
                           f"{bad}. Delete it and download again (the server copy may have changed).")


def _open(url: str, start: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "legokit"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (URLs are the corpora's own)


def download(resource: Resource, download_dir: str | Path, hint: str = "", progress: bool = True,
             timeout: float = 60.0) -> Path:
    """Fetch ``resource`` into ``download_dir`` (resuming a partial ``.part`` file); returns its path.

    An existing complete file is verified (when a checksum is known) and reused without the network.
    ``hint`` completes the offline message, e.g. "set EUROPARL_ST in db.sh to the extracted corpus".
    """
    dest = Path(download_dir) / resource.filename
    if dest.is_file():
        _verify(dest, resource.md5)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    total: int | None = None
    try:
        with _open(resource.url, start, timeout) as response:
            status = response.status
            if start and status != 206:  # the server ignored Range: start over
                log.warning("%s: server does not resume downloads; starting %s again", resource.url, dest.name)
                start = 0
            length = response.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            with open(part, "ab" if start else "wb") as f, \
                    progress_bar(total=total, initial=start, unit="B", unit_scale=True, desc=dest.name,
                                 enabled=progress) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    f.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # requested range beyond the end: the .part file is complete
            log.info("%s: already complete", part)
        else:
            raise LegokitError(f"cannot download {resource.url}: HTTP {err.code} {err.reason}. "
                               + _offline_hint(dest, hint)) from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        kept = f" ({part.stat().st_size} bytes kept in {part}; re-run to resume)" if part.is_file() else ""
        raise LegokitError(f"cannot download {resource.url}: {reason}{kept}. " + _offline_hint(dest, hint)) from err
    if total is not None and part.stat().st_size != total:
        raise LegokitError(f"{part}: got {part.stat().st_size} of {total} bytes from {resource.url}; "
                           "re-run to resume the download")
    os.replace(part, dest)
    _verify(dest, resource.md5)
    return dest


def safe_tar_members(tar: tarfile.TarFile, archive: Path, out: Path) -> list[tarfile.TarInfo]:
    """The members of ``tar`` checked as Python's ``filter="data"`` checks them, for the Pythons without it
    (3.10.0-3.10.11, 3.11.0-3.11.3): an absolute path, a ``..``, a link pointing outside ``out``, a device or
    FIFO is refused naming the member; setuid/setgid/sticky and group/other write bits are cleared and the
    files get the extracting user as owner."""
    root = os.path.realpath(out)

    def inside(path: str) -> bool:
        return os.path.commonpath([root, os.path.realpath(os.path.join(root, path))]) == root

    for member in tar.getmembers():
        why = ""
        if os.path.isabs(member.name) or ".." in Path(member.name).parts or not inside(member.name):
            why = f"would be written outside {out}"
        elif not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            why = "is a device, FIFO or other special file"
        elif member.issym() or member.islnk():
            target = os.path.join(os.path.dirname(member.name), member.linkname) if member.issym() else member.linkname
            if os.path.isabs(member.linkname) or not inside(target):
                why = f"links to '{member.linkname}', outside {out}"
        if why:
            raise LegokitError(f"{archive}: member '{member.name}' {why}; refusing to extract the archive")
        member.mode &= 0o755
        member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
    return tar.getmembers()


def extract(archive: str | Path, out_dir: str | Path, force: bool = False) -> Path:
    """Unpack a .tar[.gz|.bz2|.xz]/.tgz or .zip archive into ``out_dir`` once (marker
    ``.<archive name>.extracted``); returns ``out_dir``. Members escaping ``out_dir`` (paths, links) and
    special files are refused: by ``filter="data"`` where tarfile has it, else by :func:`safe_tar_members`."""
    archive, out = Path(archive), Path(out_dir)
    marker = out / f".{archive.name}.extracted"
    if marker.is_file() and not force:
        return out
    out.mkdir(parents=True, exist_ok=True)
    log.info("extracting %s into %s", archive, out)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    if Path(name).is_absolute() or ".." in Path(name).parts:
                        raise LegokitError(f"{archive}: member '{name}' would be written outside {out}")
                z.extractall(out)
        else:
            with tarfile.open(archive) as t:
                if not hasattr(tarfile, "data_filter"):  # Python < 3.10.12 / 3.11.4: no extraction filters
                    t.extractall(out, members=safe_tar_members(t, archive, out))
                else:
                    try:
                        t.extractall(out, filter="data")
                    except tarfile.FilterError as err:
                        raise LegokitError(f"{archive}: {err}; refusing to extract the archive") from err
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
        raise LegokitError(f"{archive}: not a readable archive ({err}); delete it and download again") from err
    marker.write_text(f"{archive}\n")
    return out

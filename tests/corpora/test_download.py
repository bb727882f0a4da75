"""Resumable download against a local HTTP server that honours Range, checksums, offline errors, extraction."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from legokit.corpora.download import Resource, download, extract, safe_tar_members
from legokit.errors import LegokitError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /file (Range honoured unless the server's `ranges` is False); logs requests."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self.server.requests.append(self.headers.get("Range"))
        if self.path != "/file":
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and self.server.ranges:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(PAYLOAD):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    srv.requests, srv.ranges = [], True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv, path: str = "/file") -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_download_verifies_md5_and_reuses_the_file(server, tmp_path: Path) -> None:
    res = Resource(_url(server), "f.bin", MD5)
    path = download(res, tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD and not (tmp_path / "f.bin.part").exists()
    server.server_close()  # a complete, verified file needs no network
    assert download(res, tmp_path, progress=False) == path


def test_download_resumes_a_partial_file_with_range(server, tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:300_000])
    path = download(Resource(_url(server), "f.bin", MD5), tmp_path, progress=False)
    assert server.requests == ["bytes=300000-"]
    assert path.read_bytes() == PAYLOAD


def test_download_restarts_when_the_server_ignores_range(server, tmp_path: Path) -> None:
    server.ranges = False
    (tmp_path / "f.bin.part").write_bytes(b"garbage" * 10)
    path = download(Resource(_url(server), "f.bin", MD5), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_complete_part_file_answered_416_is_kept(server, tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    assert download(Resource(_url(server), "f.bin", MD5), tmp_path, progress=False).read_bytes() == PAYLOAD


def test_checksum_mismatch_moves_the_file_aside(server, tmp_path: Path) -> None:
    with pytest.raises(LegokitError, match="differs from the published 0{32}"):
        download(Resource(_url(server), "f.bin", "0" * 32), tmp_path, progress=False)
    assert (tmp_path / "f.bin.bad").is_file() and not (tmp_path / "f.bin").exists()


def test_http_error_and_offline_messages_say_what_to_do(server, tmp_path: Path) -> None:
    with pytest.raises(LegokitError, match=r"HTTP 404.*copy it to .*f.bin, or set X in db.sh"):
        download(Resource(_url(server, "/missing"), "f.bin"), tmp_path, hint="set X in db.sh", progress=False)
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    with pytest.raises(LegokitError, match="cannot download .*Without network access"):
        download(Resource(f"http://127.0.0.1:{port}/file", "g.bin"), tmp_path, progress=False, timeout=2)


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_extract_tar_and_zip_once(tmp_path: Path) -> None:
    _tar(tmp_path / "a.tgz", {"dir/x.txt": b"x"})
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as z:
        z.writestr("y.txt", "y")
    out = tmp_path / "out"
    extract(tmp_path / "a.tgz", out)
    extract(tmp_path / "b.zip", out)
    assert (out / "dir/x.txt").read_text() == "x" and (out / "y.txt").read_text() == "y"
    (out / "dir/x.txt").unlink()
    extract(tmp_path / "a.tgz", out)  # marker: not extracted again
    assert not (out / "dir/x.txt").exists()


def _evil_tar(path: Path, kind: str) -> None:
    """A tar whose last member is malicious in one way (after a harmless file); absolute paths are beside it."""
    with tarfile.open(path, "w") as t:
        info = tarfile.TarInfo("ok.txt")
        info.size = 2
        t.addfile(info, io.BytesIO(b"ok"))
        name, link = {"traversal": ("../evil.txt", ""), "absolute": (str(path.parent / "abs-evil.txt"), ""),
                      "symlink": ("sub/link", "../../evil"), "abs_symlink": ("link", str(path.parent / "secret")),
                      "hardlink": ("hard", "../evil"), "device": ("dev", "")}[kind]
        info = tarfile.TarInfo(name)
        info.type = {"symlink": tarfile.SYMTYPE, "abs_symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                     "device": tarfile.CHRTYPE}.get(kind, tarfile.REGTYPE)
        info.linkname = link
        data = b"" if link or kind == "device" else b"evil"
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))


EVIL = ["traversal", "absolute", "symlink", "abs_symlink", "hardlink", "device"]


@pytest.mark.parametrize("kind", EVIL)
def test_fallback_member_check_refuses_what_the_data_filter_refuses(tmp_path: Path, kind: str) -> None:
    """safe_tar_members is what extract uses on Pythons without tarfile.data_filter (3.10.0-11, 3.11.0-3)."""
    _evil_tar(tmp_path / "evil.tar", kind)
    with tarfile.open(tmp_path / "evil.tar") as t, \
            pytest.raises(LegokitError, match=r"evil.tar: member '.*' (would be written outside|links to|is a device)"):
        safe_tar_members(t, tmp_path / "evil.tar", tmp_path / "out")


@pytest.mark.parametrize("data_filter", [True, False])
@pytest.mark.parametrize("kind", EVIL)
def test_extract_refuses_malicious_tars_with_and_without_data_filter(tmp_path: Path, kind: str, data_filter: bool,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if not data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile.data_filter: extract uses the fallback")
    _evil_tar(tmp_path / "evil.tar", kind)
    if kind == "absolute" and data_filter:  # filter="data" strips the leading "/" instead of refusing
        extract(tmp_path / "evil.tar", tmp_path / "out")
        assert (tmp_path / "out" / str(tmp_path / "abs-evil.txt").lstrip("/")).read_bytes() == b"evil"
    else:
        with pytest.raises(LegokitError, match="evil.tar: .*refusing to extract the archive"):
            extract(tmp_path / "evil.tar", tmp_path / "out")
        assert not (tmp_path / "out" / ".evil.tar.extracted").exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "evil").exists()
    assert not (tmp_path / "abs-evil.txt").exists()


def test_fallback_extracts_a_normal_tar_without_special_mode_bits(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    with tarfile.open(tmp_path / "a.tar", "w") as t:
        for name, mode in (("d/x.txt", 0o4777), ("d/y.txt", 0o644)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = 1, mode
            t.addfile(info, io.BytesIO(b"x"))
        link = tarfile.TarInfo("d/link")
        link.type, link.linkname = tarfile.SYMTYPE, "y.txt"
        t.addfile(link)
    out = extract(tmp_path / "a.tar", tmp_path / "out")
    assert (out / "d/link").read_text() == "x" and (out / "d/link").is_symlink()
    assert (out / "d/x.txt").stat().st_mode & 0o7777 == 0o755 and (out / ".a.tar.extracted").is_file()


def test_extract_refuses_escaping_members_and_broken_archives(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        z.writestr("../evil.txt", "x")
    with pytest.raises(LegokitError, match="outside"):
        extract(tmp_path / "evil.zip", tmp_path / "out")
    (tmp_path / "broken.tgz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(LegokitError, match="broken.tgz: not a readable archive"):
        extract(tmp_path / "broken.tgz", tmp_path / "out")

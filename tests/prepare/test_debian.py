import subprocess
from pathlib import Path

import pytest

from legokit.corpora import debian
from legokit.corpora.debian import fetch_deb, index_files, parse_deb822, read_index, split_description
from legokit.errors import LegokitError


def test_parse_deb822_and_split_description(fixtures: Path):
    paras = list(parse_deb822((fixtures / "Translation-en").read_text()))
    assert [p["Package"] for p in paras] == ["0ad", "tiny", "listy"]
    synopsis, paragraphs = split_description(paras[0]["Description-en"])
    assert synopsis == "Real-time strategy game of ancient warfare"
    assert len(paragraphs) == 2 and paragraphs[1].startswith("The project is highly ambitious")
    _, listy = split_description(paras[2]["Description-en"])
    assert listy[0].endswith("Features: fast start-up time on old machines small memory footprint "
                             "works offline without any network")  # bullets removed


def test_read_index_decompresses(tmp_path: Path, fixtures: Path):
    import gzip
    import lzma
    text = (fixtures / "Translation-en").read_text()
    (tmp_path / "a.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "a.xz").write_bytes(lzma.compress(text.encode()))
    assert read_index(tmp_path / "a.gz") == read_index(tmp_path / "a.xz") == text


def test_index_files_missing_names_dir(tmp_path: Path):
    with pytest.raises(LegokitError, match=f"no 'Translation-de' index file in {tmp_path}"):
        index_files(tmp_path, "Translation-de")


def test_fetch_deb_missing_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LegokitError, match="'apt-get' was not found on PATH.*trans-de-en"):
        fetch_deb("trans-de-en", tmp_path)


def test_fetch_deb_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "extracted/foo").mkdir(parents=True)
    (tmp_path / "extracted/foo/.completed").touch()
    monkeypatch.setattr(debian, "_run", lambda *a, **k: pytest.fail("must not run apt again"))
    assert fetch_deb("foo", tmp_path) == (tmp_path / "extracted/foo").resolve()


def test_fetch_deb_unknown_package_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def fail(cmd, *a, **k):
        return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate package no-such-pkg")
    monkeypatch.setattr(debian.subprocess, "run", fail)
    monkeypatch.setattr(debian.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    with pytest.raises(LegokitError, match=r"(?s)Unable to locate package.*apt-get update"):
        fetch_deb("no-such-pkg", tmp_path)


@pytest.mark.slow
def test_fetch_deb_real_package(tmp_path: Path):
    """Needs apt and the Debian mirror: downloads the 0.6 MB libreoffice-l10n-ro."""
    tree = fetch_deb("libreoffice-l10n-ro", tmp_path)
    assert list(tree.glob("**/ro/LC_MESSAGES/*.mo"))
    assert (tree / ".completed").exists()


def test_apt_lists_for_more_languages_serve_fewer(tmp_path: Path, monkeypatch):
    """debian-mt's update (en, de, ro) serves debian-sum and debian-lm-text (en): a second update for "en" alone
    would make apt delete the Translation-de/ro files debian-mt reads."""
    def no_update(*args, **kwargs):
        raise AssertionError("apt-get update was run again")

    monkeypatch.setattr(debian, "require_tool", no_update)
    (tmp_path / "apt").mkdir()
    (tmp_path / "apt" / ".completed.en-de-ro").touch()
    assert debian.fetch_apt_lists(tmp_path, ["en"]) == (tmp_path / "apt" / "lists").resolve()
    assert debian.fetch_apt_lists(tmp_path, ["ro", "en"]) == (tmp_path / "apt" / "lists").resolve()
    with pytest.raises(AssertionError, match="run again"):
        debian.fetch_apt_lists(tmp_path, ["en", "fr"])

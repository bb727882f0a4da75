import json
from pathlib import Path

import pytest

from legokit.corpora import debian_mt
from legokit.corpora.debian_mt import MTPrepConfig, Source, prepare_debian_mt
from legokit.corpora.sources import ding_pairs, mo_pairs
from legokit.corpora.text import read_text
from legokit.errors import LegokitError


@pytest.fixture
def tiny_sources(fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    locale = tmp_path / "locale/de/LC_MESSAGES"
    locale.mkdir(parents=True)
    (locale / "x.mo").write_bytes((fixtures / "de.mo").read_bytes())
    sources = (Source("ding", "Ding", "GPL-2.0-or-later", lambda lang, d: ding_pairs(fixtures / "ding.txt")),
               Source("mo-system", "catalogs", "various", lambda lang, d: mo_pairs([tmp_path / "locale"], lang)))
    monkeypatch.setattr(debian_mt, "SOURCES", sources)


def test_prepare_debian_mt_writes_aligned_kaldi_dirs(tiny_sources, tmp_path: Path):
    cfg = MTPrepConfig(pair="de-en", valid_size=1, test_size=1, heldout_fraction=0.5,
                       sources=["ding", "mo-system"])
    stats = prepare_debian_mt(tmp_path / "out", tmp_path / "dl", cfg)
    counts = stats["counts"]
    # Ding: 5 example sentences pass (slash alternative and phrases do not); catalogs: 2 of 4
    assert counts["ding.filtered"] == 5 and counts["mo-system.filtered"] == 2
    total = sum(counts[f"total.{s}"] for s in ("train", "valid", "test"))
    assert counts["total.valid"] == counts["total.test"] == 1
    assert total + counts.get("ding.heldout_unused", 0) + counts.get("mo-system.heldout_unused", 0) == 7
    for split in ("train", "valid", "test"):
        de, en = read_text(tmp_path / f"out/{split}/text.de"), read_text(tmp_path / f"out/{split}/text.en")
        assert de.keys() == en.keys()
        assert all(k.startswith(("ding-", "mo-system-")) for k in de)
    assert "GPL-2.0-or-later" in (tmp_path / "out/README.md").read_text()
    assert json.loads((tmp_path / "out/stats.json").read_text()) == stats


def test_prepare_debian_mt_is_idempotent(tiny_sources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = MTPrepConfig(valid_size=1, test_size=1, heldout_fraction=0.5, sources=["ding", "mo-system"])
    first = prepare_debian_mt(tmp_path / "out", tmp_path / "dl", cfg)
    def fail(lang, download_dir):
        pytest.fail("a re-run must not read any source")
    monkeypatch.setattr(debian_mt, "SOURCES", tuple(Source(s.tag, "", "", fail) for s in debian_mt.SOURCES))
    assert prepare_debian_mt(tmp_path / "out", tmp_path / "dl", cfg) == first


def test_prepare_debian_mt_bad_options(tmp_path: Path):
    with pytest.raises(LegokitError, match="unknown language pair 'fr-en'"):
        prepare_debian_mt(tmp_path, tmp_path, MTPrepConfig(pair="fr-en"))
    with pytest.raises(LegokitError, match=r"unknown source\(s\) \['wmt'\]"):
        prepare_debian_mt(tmp_path, tmp_path, MTPrepConfig(sources=["wmt"]))

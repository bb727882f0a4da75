"""Offline corpora: festvox prompts, gettext sentences and their filter."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.gettext_mo import write_mo

from legokit.config import load_config
from legokit.corpora.tts import CorpusConfig, prepare_espeak_language, read_festvox, sentences
from legokit.errors import LegokitError

FESTVOX = Path(__file__).parents[1] / "fixtures" / "tts" / "festvox"


def test_read_festvox_strips_stress_marks_and_skips_missing_wavs(tmp_path):
    voice = tmp_path / "voice"
    shutil.copytree(FESTVOX, voice)
    (voice / "wav").mkdir()
    for uid in ("ru_0001", "ru_0002"):
        sf.write(voice / "wav" / f"{uid}.wav", np.zeros(1600, dtype=np.float32), 16000)
    utts = read_festvox(voice)
    assert sorted(utts) == ["ru_0001", "ru_0002"]
    assert utts["ru_0001"][1] == "Она завела, прядь волнистых волос за ухо."
    (voice / "etc" / "txt.done.data").write_text('( ru_0001 "ok" )\nbroken line\n')
    with pytest.raises(LegokitError, match=r"txt.done.data:2"):
        read_festvox(voice)
    with pytest.raises(LegokitError, match="festvox voice"):
        read_festvox(tmp_path)


def test_sentences_filter_and_text_files(tmp_path):
    extra = tmp_path / "sw.txt"
    extra.write_text("Habari ya asubuhi\nmoja\nfaili %s haipo\nHabari  ya   asubuhi\n", encoding="utf-8")
    cfg = CorpusConfig(text_files=[str(tmp_path / "{lang}.txt")])
    # no catalogs under tmp_path: only the file; one word, markup and duplicates are dropped
    assert sentences("sw", [tmp_path / "locale"], cfg) == ["Habari ya asubuhi"]


@pytest.mark.skipif(not Path("/usr/share/locale/kk/LC_MESSAGES").is_dir(), reason="no Kazakh catalogs here")
def test_system_catalog_sentences_are_stable():
    found = sentences("kk", [Path("/usr/share/locale")], CorpusConfig())
    assert len(found) > 100 and found == sentences("kk", [Path("/usr/share/locale")], CorpusConfig())


def _cached_package(download_dir: Path, name: str, lang: str, messages: dict[str, str]) -> None:
    """A Debian package as fetch_deb leaves it (extracted, marked complete): one catalog of `lang`."""
    tree = download_dir / "extracted" / name
    (tree / "usr/share/locale" / lang / "LC_MESSAGES").mkdir(parents=True)
    write_mo(tree / "usr/share/locale" / lang / "LC_MESSAGES" / f"{name}.mo", messages)
    (tree / ".completed").touch()


def test_lang_packages_add_catalogs_for_their_language_only(tmp_path):
    swahili = {f"Open file number {i}.": f"Fungua faili {'na ' * (i % 5)}namba {'moja ' * (i // 5 + 1)}ya kwanza."
               for i in range(30)}
    _cached_package(tmp_path / "dl", "pkg-sw", "sw", swahili)
    config = tmp_path / "corpus.yaml"
    config.write_text("test_utts: 5\nvalid_utts: 2\ntrain_utts: 10\nlang_packages:\n  sw: [pkg-sw]\n")
    cfg = load_config(CorpusConfig, config)
    counts = prepare_espeak_language("sw", tmp_path / "data", cfg, tmp_path / "dl", text_only=True)
    machine = sentences("sw", [Path("/usr/share/locale")], cfg)  # this machine's own sw catalogs (iso-codes)
    assert counts == {"train": 10, "valid": 2, "test": 5, "asr": 30 + len(machine) - 7}
    written = {line.split(" ", 1)[1] for split in ("test", "valid", "asr")
               for line in (tmp_path / f"data/sw_text/{split}/text.sw").read_text(encoding="utf-8").splitlines()}
    assert set(swahili.values()) <= written
    # another language does not get the Swahili packages, and says where it looked and what to add
    with pytest.raises(LegokitError, match=r"'ur' sentences.*lang_packages"):
        prepare_espeak_language("ur", tmp_path / "data", CorpusConfig(test_utts=10_000), tmp_path / "dl",
                                text_only=True)


def test_lang_packages_must_be_lists_of_names(tmp_path):
    config = tmp_path / "corpus.yaml"
    config.write_text("lang_packages:\n  sw: vlc-l10n\n")
    with pytest.raises(LegokitError, match=r"lang_packages\['sw'\] must be a list"):
        load_config(CorpusConfig, config)

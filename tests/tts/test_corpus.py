"""Offline corpora: festvox prompts, gettext sentences and their filter."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from legokit.errors import LegokitError
from legokit.tts.corpus import CorpusConfig, read_festvox, sentences

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

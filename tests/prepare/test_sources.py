import gettext
from pathlib import Path

import pytest

from legokit.corpora.sources import ddtp_pairs, ding_pairs, mo_pairs, read_mo
from legokit.errors import LegokitError


def test_read_mo_matches_stdlib_gettext(fixtures: Path):
    pairs = dict(read_mo(fixtures / "de.mo"))
    with open(fixtures / "de.mo", "rb") as f:
        catalog = gettext.GNUTranslations(f)
    # singular messages agree with the stdlib parser; context is stripped; plural and header are skipped
    assert pairs["The file could not be opened."] == catalog.gettext("The file could not be opened.")
    assert pairs["Save the current document to disk."] == catalog.pgettext(
        "menu", "Save the current document to disk.")
    assert "" not in pairs and not any("one file" in k for k in pairs)
    assert len(pairs) == 4


def test_read_mo_rejects_other_files(tmp_path: Path):
    bad = tmp_path / "bad.mo"
    bad.write_bytes(b"\x00" * 40)
    with pytest.raises(LegokitError, match="bad.mo: not a gettext .mo file"):
        read_mo(bad)


def test_mo_pairs_globs_language_dirs(tmp_path: Path, fixtures: Path):
    for lang in ("de", "ro"):
        (tmp_path / "share/locale" / lang / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "share/locale/de/LC_MESSAGES/x.mo").write_bytes((fixtures / "de.mo").read_bytes())
    assert ("Die Datei konnte nicht geöffnet werden.", "The file could not be opened.") in list(
        mo_pairs([tmp_path], "de"))
    assert list(mo_pairs([tmp_path], "ro")) == []


def test_ding_pairs_align_sub_entries_and_strip_notes(fixtures: Path):
    pairs = list(ding_pairs(fixtures / "ding.txt"))
    assert ("Arm", "arm") in pairs  # notes {m} [anat.] removed
    assert ("Sie erhalten innerhalb von zwei Werktagen eine Antwort.",
            "You will receive a reply within two working days.") in pairs  # first alternative
    assert not any(de.startswith("eins") for de, _ in pairs)  # 3 vs 2 sub-entries: line skipped


def test_ddtp_pairs_by_md5_paragraph_and_sentence(fixtures: Path):
    pairs = list(ddtp_pairs((fixtures / "Translation-en").read_text(), (fixtures / "Translation-de").read_text(),
                            "de"))
    # paragraph 1 has 2 English vs 2 German sentences, paragraph 2 one each
    assert len(pairs) == 3
    assert pairs[-1][1].startswith("The project is highly ambitious")
    assert pairs[-1][0].startswith("Das Projekt ist sehr ambitioniert")

"""Data for the low-resource TTS recipe that can be had offline (see docs/data_sources.md and docs/tts.md):

* festvox-ru (Debian, BSD-like): a real recording of one male Russian speaker, 620 utterances, 1.66 h;
* any other language: sentences from the gettext catalogs (``<lang>/LC_MESSAGES/*.mo``) of this machine
  (and optionally of Debian packages such as libreoffice-l10n-<lang>), spoken by espeak-ng — one fixed
  voice for TTS training, several other voices for the ASR model that scores the synthesised speech.

Outputs are Kaldi dirs (wav.scp, text, utt2spk, spk2utt)::

    <out>/<lang>_tts/{train,valid,test}   TTS data (festvox-ru: the recording; others: voice <lang>)
    <out>/<lang>_asr/{train,valid}        ASR training data (espeak-ng voices <lang>+m1, +f2, ...)
    <out>/<lang>_text/<split>/text.<lang> the sentences
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from legokit.corpora.debian import fetch_deb
from legokit.corpora.espeak import EspeakConfig, make_espeak_speech
from legokit.corpora.sources import mo_pairs
from legokit.corpora.text import text_hash, write_text
from legokit.errors import LegokitError
from legokit.fileio import read_text_lines

log = logging.getLogger(__name__)

FESTVOX_RU = "usr/share/festival/voices/russian/msu_ru_nsh_clunits"
_FESTVOX_LINE = re.compile(r'^\(\s*(\S+)\s+"(.*)"\s*\)\s*$')
_MARKUP = re.compile(r"[%{}<>_&\\/@|=\[\]#$*~^0-9]")


@dataclass
class CorpusConfig:
    """Sizes and voices of the recipe's data (utterance counts; ~2.5 s per sentence for espeak-ng)."""

    train_utts: int = 400  # TTS training utterances per language (~15 min of espeak-ng speech)
    valid_utts: int = 20  # TTS validation utterances
    test_utts: int = 50  # sentences synthesised and scored
    asr_utts: int = 1500  # ASR training utterances (drawn from all non-test sentences, several voices)
    min_words: int = 2  # sentence filter: at least this many words
    max_words: int = 20  # and at most this many
    packages: list[str] = field(default_factory=list)  # Debian packages with more catalogs, "{lang}" replaced
    # Debian packages with more catalogs for one language only, e.g. {"sw": ["vlc-l10n", "minetest-data"]}:
    # for languages with few messages on a base system (docs/tts.md shows how to find such packages)
    lang_packages: dict[str, list[str]] = field(default_factory=dict)
    asr_voices: list[str] = field(default_factory=lambda: ["+m1", "+f2", "+m3", "+f4", "+m7"])  # appended to lang
    speed: int = 160  # espeak-ng words per minute of the TTS voice
    source_utts: int = 0  # festvox-ru training utterances (0: all 550 not in valid/test)
    text_files: list[str] = field(default_factory=list)  # more sentence files (one a line), "{lang}" replaced;
    # e.g. "$TTS_CORPORA/{lang}/sentences.txt" (db.sh) for a user's own text

    def validate(self) -> None:
        for lang, names in self.lang_packages.items():
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                raise LegokitError(f"lang_packages['{lang}'] must be a list of Debian package names, got {names!r}")


def read_festvox(voice_dir: str | Path) -> dict[str, tuple[str, str]]:
    """{utt: (wav path, text)} of a festvox voice (etc/txt.done.data, wav/); '+' stress marks removed."""
    voice_dir = Path(voice_dir)
    prompts = voice_dir / "etc" / "txt.done.data"
    if not prompts.is_file():
        raise LegokitError(f"{prompts} not found: is {voice_dir} a festvox voice (etc/, wav/)?")
    out = {}
    for number, line in enumerate(read_text_lines(prompts), 1):
        match = _FESTVOX_LINE.match(line)
        if match is None:
            raise LegokitError(f"{prompts}:{number}: expected '( utt \"text\" )', got {line!r}")
        wav = voice_dir / "wav" / f"{match[1]}.wav"
        if wav.is_file():
            out[match[1]] = (str(wav.resolve()), " ".join(match[2].replace("+", "").split()))
    return out


def sentences(lang: str, roots: list[Path], cfg: CorpusConfig) -> list[str]:
    """Distinct translated catalog messages of `lang` that look like plain text, in a stable order."""
    keep = set()
    # English: the msgids of another language's catalogs
    pairs = ((en, "") for _, en in mo_pairs(roots, "de")) if lang.startswith("en") else mo_pairs(roots, lang)
    extra = [Path(f.format(lang=lang)) for f in cfg.text_files]
    lines = (line for f in extra if f.is_file() for line in read_text_lines(f))
    for text, english in itertools.chain(pairs, ((line, "") for line in lines)):
        text = " ".join(text.split())
        if text != english and cfg.min_words <= len(text.split()) <= cfg.max_words and not _MARKUP.search(text):
            keep.add(text)
    return sorted(keep, key=text_hash)


def _split(items: list, cfg: CorpusConfig) -> dict[str, list]:
    test, valid = items[:cfg.test_utts], items[cfg.test_utts:cfg.test_utts + cfg.valid_utts]
    rest = items[cfg.test_utts + cfg.valid_utts:]
    return {"test": test, "valid": valid, "train": rest[:cfg.train_utts], "asr": rest[:cfg.asr_utts]}


def _write_dir(out: Path, utts: dict[str, tuple[str, str]], speaker: str) -> None:
    write_text(out / "wav.scp", {u: w for u, (w, _) in utts.items()})
    write_text(out / "text", {u: t for u, (_, t) in utts.items()})
    write_text(out / "utt2spk", dict.fromkeys(utts, speaker))
    write_text(out / "spk2utt", {speaker: " ".join(sorted(utts))})


def prepare_festvox_ru(download_dir: str | Path, out_dir: str | Path, cfg: CorpusConfig) -> dict[str, int]:
    """festvox-ru as <out>/ru_tts/{train,valid,test}; train gets every utterance not in valid/test."""
    voice = fetch_deb("festvox-ru", download_dir) / FESTVOX_RU
    utts = read_festvox(voice)
    splits = _split(sorted(utts, key=text_hash), CorpusConfig(**{**cfg.__dict__,
                                                                 "train_utts": cfg.source_utts or len(utts)}))
    for name in ("train", "valid", "test"):
        _write_dir(Path(out_dir) / "ru_tts" / name, {u: utts[u] for u in splits[name]}, "msu_ru_nsh")
        write_text(Path(out_dir) / "ru_text" / name / "text.ru", {u: utts[u][1] for u in splits[name]})
    return {name: len(splits[name]) for name in ("train", "valid", "test")}


def prepare_espeak_language(lang: str, out_dir: str | Path, cfg: CorpusConfig, download_dir: str | Path,
                            nj: int = 2, text_only: bool = False) -> dict[str, int]:
    """Catalog sentences of `lang` spoken by espeak-ng: <out>/<lang>_tts and <out>/<lang>_asr
    (with `text_only`, only the sentences: enough for ASPF)."""
    names = [p.format(lang=lang) for p in cfg.packages] + cfg.lang_packages.get(lang, [])
    roots = [Path("/usr/share/locale")] + [fetch_deb(name, download_dir) for name in names]
    found = sentences(lang, roots, cfg)
    if len(found) < cfg.test_utts + cfg.valid_utts + 10:
        raise LegokitError(f"only {len(found)} '{lang}' sentences in the gettext catalogs of /usr/share/locale and "
                           f"the packages {names}; add Debian packages with more (lang_packages: {{{lang}: [...]}}, "
                           "docs/tts.md shows how to find them), a sentence file (text_files) or lower test_utts")
    splits = _split(found, cfg)
    out = Path(out_dir)
    text_dir = out / f"{lang}_text"
    changed = False  # make_espeak_speech's markers record options, not sentences: re-speak on new sentences
    for name in ("train", "valid", "test", "asr"):
        path = text_dir / name / f"text.{lang}"
        before = path.read_bytes() if path.is_file() else b""
        write_text(path, {f"{lang}_{text_hash(s):.12f}"[:16].replace(".", ""): s for s in splits[name]})
        changed |= path.read_bytes() != before
    counts = {name: len(splits[name]) for name in ("train", "valid", "test", "asr")}
    log.info("%s: %d catalog sentences -> %s", lang, len(found), counts)
    if text_only:
        return counts
    tts = EspeakConfig(voices=[lang], test_voices=[lang + "+m1"], speeds=[cfg.speed], pitches=[50], speak=lang,
                       target=lang, splits=["train", "valid", "test"])
    make_espeak_speech(text_dir, out / f"{lang}_tts", tts, nj=nj, force=changed)
    asr_voices = [lang + v for v in cfg.asr_voices]
    asr = EspeakConfig(voices=asr_voices[1:], test_voices=asr_voices[:1], speeds=[140, 160, 180], speak=lang,
                       target=lang, splits=["asr", "valid"])
    make_espeak_speech(text_dir, out / f"{lang}_asr", asr, nj=nj, force=changed)
    return counts

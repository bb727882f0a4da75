"""A tiny Kazakh speech dir spoken by espeak-ng (4 utterances), shared by the TTS tests."""

import shutil
from pathlib import Path

import pytest

from legokit.corpora.espeak import synthesize
from legokit.corpora.text import write_text

SENTENCES = ["Сізде жаңа пошта бар.", "Бүгін ауа райы жақсы.", "Мен кітап оқимын.", "Қала үлкен және әдемі."]


@pytest.fixture(scope="session")
def kk_dir(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    out = tmp_path_factory.mktemp("kk")
    (out / "wav").mkdir()
    ids = [f"kk{i}" for i in range(len(SENTENCES))]
    for uid, text in zip(ids, SENTENCES):
        synthesize(text, out / "wav" / f"{uid}.wav", "kk", 170, 50, 16000)
    write_text(out / "wav.scp", {u: str((out / "wav" / f"{u}.wav").resolve()) for u in ids})
    write_text(out / "text", dict(zip(ids, SENTENCES)))
    write_text(out / "utt2spk", dict.fromkeys(ids, "kk"))
    write_text(out / "spk2utt", {"kk": " ".join(ids)})
    return out

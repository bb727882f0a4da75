"""`legokit data combine` (Kaldi's utils/combine_data.sh) and the ASR scoring form of transcripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from legokit.cli import main
from legokit.corpora.text import asr_normalise
from legokit.data.datadir import read_kaldi_map

QUIET = ["--log-level", "WARNING"]


def _dir(root: Path, name: str, utts: dict[str, tuple[str, str]], extra: str | None = None) -> Path:
    d = root / name
    d.mkdir()
    (d / "wav.scp").write_text("".join(f"{u} /a/{u}.wav\n" for u in utts))
    (d / "text").write_text("".join(f"{u} {t}\n" for u, (t, _) in utts.items()))
    (d / "utt2spk").write_text("".join(f"{u} {s}\n" for u, (_, s) in utts.items()))
    (d / "spk2utt").write_text("stale\n")
    if extra:
        (d / extra).write_text("".join(f"{u} 1.0\n" for u in utts))
    return d


def test_asr_normalise():
    assert asr_normalise("Use ALSA's PCM plug-in, (not OSS).") == "use alsa's pcm plug in not oss"
    assert asr_normalise("\u201cQuoted\u201d \u2018it\u2019s\u2019 -- ok!") == "quoted it's ok"
    assert asr_normalise("A+ and C++ 3.5") == "a+ and c++ 3 5"  # symbols (not punctuation) stay
    assert asr_normalise("...") == ""


def test_combine_joins_sorts_rebuilds_spk2utt_and_normalises(tmp_path: Path):
    a = _dir(tmp_path, "a", {"b-2": ("Hello, World!", "s1"), "b-1": ("It's fine.", "s2")}, extra="utt2dur")
    b = _dir(tmp_path, "b", {"a-1": ("GNU's Not Unix.", "s3")})
    before = {p: p.read_bytes() for d in (a, b) for p in d.iterdir()}
    assert main([*QUIET, "data", "combine", "--normalise-text", str(tmp_path / "all"), str(a),
                 str(b)]) == 0
    out = tmp_path / "all"
    assert list(read_kaldi_map(out / "text")) == ["a-1", "b-1", "b-2"]
    assert read_kaldi_map(out / "text") == {"a-1": "gnu's not unix", "b-1": "it's fine", "b-2": "hello world"}
    assert read_kaldi_map(out / "text.cased")["b-2"] == "Hello, World!"
    assert (out / "spk2utt").read_text() == "s1 b-2\ns2 b-1\ns3 a-1\n"
    assert not (out / "utt2dur").exists()  # only in one source
    assert {p: p.read_bytes() for d in (a, b) for p in d.iterdir()} == before  # inputs untouched


def test_combine_refuses_shared_ids_and_writing_into_a_source(tmp_path: Path, capsys):
    a = _dir(tmp_path, "a", {"u1": ("one", "s1")})
    b = _dir(tmp_path, "b", {"u1": ("uno", "s1")})
    assert main([*QUIET, "data", "combine", str(tmp_path / "out"), str(a), str(b)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "b/text: utterance 'u1' is also in" in err[0]
    assert not (tmp_path / "out").exists()
    c = _dir(tmp_path, "c", {"u2": ("two", "s2")})
    assert main([*QUIET, "data", "combine", str(a), str(a), str(c)]) == 2
    assert "is one of the data dirs to combine" in capsys.readouterr().err
    assert read_kaldi_map(a / "text") == {"u1": "one"}


@pytest.mark.parametrize("text", ["...", "?!"])
def test_combine_refuses_an_utterance_normalised_to_nothing(tmp_path: Path, capsys, text: str):
    a = _dir(tmp_path, "a", {"u1": (text, "s1")})
    assert main([*QUIET, "data", "combine", "--normalise-text", str(tmp_path / "out"), str(a)]) == 2
    assert "utterance 'u1' has no words left after normalisation" in capsys.readouterr().err

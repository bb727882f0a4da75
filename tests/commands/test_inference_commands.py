"""`legokit translate/transcribe/summarize` as a user runs them: stdin, a file, --jsonl, --output, bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.datagen import tone
from robustness.conftest import toy_model, toy_tokenizers  # noqa: F401  (fixtures)
from workflows.conftest import asr_model, speech_data  # noqa: F401  (fixtures)

import legokit
from legokit.cli import main


def _legokit(*args: str, stdin: bytes = b"", cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "legokit.cli", "--log-level", "WARNING", *args], input=stdin,
                          capture_output=True, cwd=cwd, timeout=300)


def test_translate_stdin_and_file_give_one_line_per_input(toy_model: Path, tmp_path: Path) -> None:  # noqa: F811
    model = str(toy_model / "model.pt")
    sentences = ["hallo welt", "", "guten morgen"]
    expected = [r.text for r in legokit.load(model).translate(sentences)]
    piped = _legokit("translate", "--model", model, stdin="\n".join(sentences).encode() + b"\n")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.decode().split("\n")[:-1] == expected
    (tmp_path / "in.de").write_text("\n".join(sentences) + "\n")
    assert main(["translate", "--model", model, "--input", str(tmp_path / "in.de"), "--jsonl",
                 "--output", str(tmp_path / "out.jsonl")]) == 0
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == expected
    assert set(records[0]) == {"text", "score", "tokens", "timings"} and "decode" in records[0]["timings"]


def test_transcribe_files_and_jsonl(asr_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    sf.write(tmp_path / "a.wav", tone(0.8, 300), 16000)
    sf.write(tmp_path / "b.flac", tone(0.6, 500, 44100), 44100)
    files = [str(tmp_path / "a.wav"), str(tmp_path / "b.flac")]
    expected = [r.text for r in legokit.load(asr_model / "model.pt").transcribe(files)]
    assert main(["transcribe", "--model", str(asr_model / "model.pt"), *files]) == 0
    assert capsys.readouterr().out == "".join(f"{f}\t{t}\n" for f, t in zip(files, expected))
    assert main(["transcribe", "--model", str(asr_model / "model.pt"), "--jsonl", files[1]]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["file"] == files[1] and record["text"] == expected[1]
    assert record["timings"]["audio"] == pytest.approx(0.6, abs=1e-3)


@pytest.mark.parametrize(("command", "make", "message"), [
    ("transcribe", lambda p: p.write_text("just text\n"), "input.wav: not a readable audio file"),
    ("transcribe", lambda p: p.write_bytes(b""), "input.wav: "),
    ("transcribe", lambda p: None, "input.wav: audio file not found"),
    ("transcribe", lambda p: sf.write(p, np.zeros(50, dtype=np.float32), 16000), "input.wav: too short"),
    ("summarize", lambda p: sf.write(p, tone(0.5), 16000), "model.pt: is a asr model, it cannot summarize"),
    ("translate", lambda p: p.write_bytes(b"caf\xe9\n"), "input.wav: not a UTF-8 text file"),
])
def test_bad_input_is_one_line_naming_the_file(asr_model: Path, tmp_path: Path, command: str, make,  # noqa: F811
                                               message: str) -> None:
    path = tmp_path / "input.wav"
    make(path)
    args = ["--input", str(path)] if command == "translate" else [str(path)]
    done = _legokit(command, "--model", str(asr_model / "model.pt"), *args)
    err = done.stderr.decode()
    assert done.returncode == 2 and err.count("\n") == 1 and err.startswith(f"legokit {command}: error: "), err
    assert message in err and not done.stdout


def test_translate_with_a_speech_model_names_it(asr_model: Path) -> None:  # noqa: F811
    done = _legokit("translate", "--model", str(asr_model / "model.pt"), stdin=b"hallo\n")
    assert done.returncode == 2
    assert "model.pt: is a asr model, it cannot translate; use transcribe" in done.stderr.decode()


def test_output_never_overwrites_an_input(asr_model: Path, tmp_path: Path) -> None:  # noqa: F811
    sf.write(tmp_path / "a.wav", tone(0.5), 16000)
    before = (tmp_path / "a.wav").read_bytes()
    done = _legokit("transcribe", "--model", str(asr_model / "model.pt"), str(tmp_path / "a.wav"),
                    "--output", str(tmp_path / "a.wav"))
    assert done.returncode == 2 and "refusing to overwrite the input" in done.stderr.decode()
    assert (tmp_path / "a.wav").read_bytes() == before

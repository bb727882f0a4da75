"""The table of bad inputs: every reader of user files, each broken in the ways files get broken.

Each :class:`Case` writes one bad input under a temporary directory and returns the call that reads it;
tests/robustness/test_bad_inputs.py asserts that the call raises a one-line LegokitError naming the file
and matching ``problem``. docs/reliability.md holds the same table: print it with

    PYTHONPATH=tests .venv/bin/python -m robustness.cases
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm
import soundfile as sf
import torch

from legokit.config import load_config
from legokit.data.audio import load_audio
from legokit.data.datadir import read_speech_dir, read_text_dir
from legokit.data.featdump import FeatureReader
from legokit.data.features import CMVNStats
from legokit.data.tokenizer import Tokenizer
from legokit.lego.bricks import _checksum
from legokit.lego.loading import load_bricks
from legokit.score.metrics import score_files
from legokit.train.checkpoint import MAGIC, load_checkpoint
from legokit.workflows.experiment import ExperimentConfig

Call = Callable[[], Any]


class Env:
    """What a case may use: a fresh directory and the valid inputs of tests/robustness/conftest.py."""

    def __init__(self, tmp: Path, fixture: Callable[[str], Any]) -> None:
        self.tmp, self.fixture = tmp, fixture


@dataclass(frozen=True)
class Case:
    area: str      # which reader
    what: str      # the bad input, one table row
    problem: str   # regex the error message must match (besides naming the file)
    make: Callable[[Env], tuple[Path | str, Call]]  # -> (the file the message must name, the call)


class Evil:
    """Unpickling this would run a shell command that creates a file; weights_only loading refuses it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


def write_wav(path: Path, seconds: float = 0.5, sample_rate: int = 16000) -> Path:
    """A 0.3-amplitude 300 Hz sine as 16-bit PCM."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), sample_rate)
    return path


def flip_byte(path: Path, offset: int) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


# --- data dirs --------------------------------------------------------------------------------------
def _speech(file: str, content: str | bytes | None) -> Callable[[Env], tuple[Path, Call]]:
    """Replace (or with None, delete) one file of the valid speech dir."""
    def make(env: Env) -> tuple[Path, Call]:
        root = env.fixture("speech_dir")
        path = root / file
        if content is None:
            path.unlink()
        else:
            text = content.replace("{tmp}", str(root.parent)) if isinstance(content, str) else content
            path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path, lambda: read_speech_dir(root)
    return make


def _mt(file: str, content: str | bytes | None) -> Callable[[Env], tuple[Path, Call]]:
    def make(env: Env) -> tuple[Path, Call]:
        root = env.fixture("mt_dir")
        path = root / file
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path, lambda: read_text_dir(root, ["de", "en"])
    return make


# --- audio ------------------------------------------------------------------------------------------
def _audio(name: str, write: Callable[[Path], Any], start: float | None = None,
           end: float | None = None) -> Callable[[Env], tuple[Path, Call]]:
    def make(env: Env) -> tuple[Path, Call]:
        path = env.tmp / name
        write(path)
        return path, lambda: load_audio(str(path), 16000, start, end)
    return make


def _wav_bytes(env_tmp: Path) -> bytes:
    return write_wav(env_tmp / "source.wav", 1.0).read_bytes()


def _truncated_wav(path: Path) -> None:
    path.write_bytes(_wav_bytes(path.parent)[:5000])


def _header_only_wav(path: Path) -> None:
    path.write_bytes(_wav_bytes(path.parent)[:20])


def _nan_wav(path: Path) -> None:
    samples = np.full(1600, 0.1, dtype=np.float32)
    samples[100] = np.nan
    sf.write(path, samples, 16000, subtype="FLOAT")


def _truncated_flac(path: Path) -> None:
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, 16000).astype(np.float32), 16000)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


# --- sentencepiece ----------------------------------------------------------------------------------
def _spm(write: Callable[[Path, bytes], Any]) -> Callable[[Env], tuple[Path, Call]]:
    def make(env: Env) -> tuple[Path, Call]:
        good = (env.fixture("toy_tokenizers") / "en.model").read_bytes()
        path = env.tmp / "bad.model"
        write(path, good)
        return path, lambda: Tokenizer.load(path)
    return make


def _spm_default_ids(path: Path, good: bytes) -> None:
    """A real sentencepiece model with sentencepiece's default ids (unk=0, bos=1, eos=2, no blank)."""
    text = path.with_suffix(".txt")
    text.write_text("hello world\ngood morning world\n" * 20)
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(path.with_suffix("")), vocab_size=7,
                                   model_type="word", minloglevel=2)


# --- configs ----------------------------------------------------------------------------------------
def _yaml(content: str | bytes) -> Callable[[Env], tuple[Path, Call]]:
    def make(env: Env) -> tuple[Path, Call]:
        path = env.tmp / "train.yaml"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path, lambda: load_config(ExperimentConfig, path)
    return make


def _override(item: str) -> Callable[[Env], tuple[str, Call]]:
    return lambda env: ("command line", lambda: load_config(ExperimentConfig, None, [item]))


# --- bricks and model files -------------------------------------------------------------------------
def _brick(change: Callable[[Path, Env], Any], name: str = "encoder.brick") -> Callable[[Env], tuple[Path, Call]]:
    def make(env: Env) -> tuple[Path, Call]:
        path = env.tmp / name
        source = env.fixture("toy_model") / ("model.pt" if name == "model.pt" else f"bricks/{name}")
        path.write_bytes(source.read_bytes())
        change(path, env)
        return path, lambda: load_bricks(path)
    return make


def _truncate(path: Path, env: Env) -> None:
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _flip_weight(path: Path, env: Env) -> None:
    """Flip one byte in the middle of the largest stored tensor (the zip archive stays readable: only the
    checksum can tell)."""
    with zipfile.ZipFile(path) as archive:
        largest = max(archive.infolist(), key=lambda info: info.file_size)
    with open(path, "rb") as f:
        f.seek(largest.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
    flip_byte(path, largest.header_offset + 30 + name_len + extra_len + largest.file_size // 2)


def _evil_pickle(path: Path, env: Env) -> None:
    torch.save({"format": "legokit-brick/1", "x": Evil(env.tmp / "PWNED")}, path)


def _resigned(edit: Callable[[dict], Any]) -> Callable[[Path, Env], None]:
    """Edit a brick payload and re-sign it (a correct checksum over wrong content)."""
    def change(path: Path, env: Env) -> None:
        payload = torch.load(path, weights_only=True)
        edit(payload)
        payload["sha256"] = _checksum(payload["manifest"], payload["state_dict"], payload["tokenizers"])
        torch.save(payload, path)
    return change


def _garbage_tokenizer(payload: dict) -> None:
    payload["tokenizers"]["output"] = torch.frombuffer(bytearray(b"not a model" * 10), dtype=torch.uint8)


# --- checkpoints ------------------------------------------------------------------------------------
def _ckpt(change: Callable[[Path, Env], Any]) -> Callable[[Env], tuple[Path, Call]]:
    def make(env: Env) -> tuple[Path, Call]:
        path = env.tmp / "checkpoint_last.pt"
        path.write_bytes(env.fixture("checkpoint").read_bytes())
        change(path, env)
        return path, lambda: load_checkpoint(path)
    return make


def _signed(payload: bytes) -> bytes:
    """A format-1 checkpoint header with a correct digest in front of arbitrary payload bytes."""
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def _format1(path: Path, payload: Any) -> Path:
    """``path`` rewritten as a valid checkpoint of format 1 (before the checksum moved inside the torch file)."""
    path.write_bytes(_signed(_torch_bytes(payload)))
    return path


def _torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


# --- feature dumps, score files ---------------------------------------------------------------------
def _dump(scp: str | bytes | None, meta: str = '{"dim": 4}', shard: bytes | None = b"\0" * 4 * 4 * 10,
          bad: str = "feats.scp") -> Callable[[Env], tuple[Path, Call]]:
    """A feature dump of dim 4 (shard of 10 frames by default) read through FeatureReader; None = no file."""
    def make(env: Env) -> tuple[Path, Call]:
        for name, content in (("feats.scp", scp), ("fbank.json", meta), ("feats.00000.f32", shard)):
            if content is not None:
                (env.tmp / name).write_bytes(content.encode() if isinstance(content, str) else content)
        return env.tmp / bad, lambda: FeatureReader(env.tmp / "feats.scp")["u1"]
    return make


def _cmvn(content: str) -> Callable[[Env], tuple[Path, Call]]:
    def make(env: Env) -> tuple[Path, Call]:
        path = env.tmp / "cmvn.json"
        path.write_text(content)
        return path, lambda: CMVNStats.load(path)
    return make


def _score(ref: str | bytes, hyp: str | bytes | None, bad: str, kaldi: bool = False
           ) -> Callable[[Env], tuple[Path, Call]]:
    """Score ref.txt against hyp.txt (None: no hypothesis file)."""
    def make(env: Env) -> tuple[Path, Call]:
        for name, content in (("ref.txt", ref), ("hyp.txt", hyp)):
            if content is not None:
                (env.tmp / name).write_bytes(content.encode() if isinstance(content, str) else content)
        return env.tmp / bad, lambda: score_files(env.tmp / "ref.txt", env.tmp / "hyp.txt", ["bleu"], kaldi=kaldi)
    return make


WAV = "u1 {tmp}/u1.wav\nu2 {tmp}/u2.wav\n"
CASES: list[Case] = [
    # speech data dirs
    Case("data dir", "wav.scp: audio file does not exist", "wav.scp:1: audio file .* not found",
         _speech("wav.scp", "u1 {tmp}/nope.wav\nu2 {tmp}/u2.wav\n")),
    Case("data dir", "wav.scp: piped command instead of a path", "wav.scp:1: piped command",
         _speech("wav.scp", "u1 sox a.wav -t wav - |\nu2 {tmp}/u2.wav\n")),
    Case("data dir", "wav.scp: duplicate id", "wav.scp:2: duplicate id 'u1'",
         _speech("wav.scp", "u1 {tmp}/u1.wav\nu1 {tmp}/u2.wav\n")),
    Case("data dir", "wav.scp: missing", "wav.scp: file not found", _speech("wav.scp", None)),
    Case("data dir", "text: not UTF-8", "text: not valid UTF-8", _speech("text", b"u1 h\xe9llo\nu2 world\n")),
    Case("data dir", "text: id without transcript", "text:1: empty transcript for id 'u1'",
         _speech("text", "u1\nu2 world\n")),
    Case("data dir", "text: blank line", "text:2: empty line", _speech("text", "u1 hello\n\nu2 world\n")),
    Case("data dir", "text: id not in wav.scp", "text:2: id 'u3' is not in .*wav.scp",
         _speech("text", "u1 hello\nu3 world\n")),
    Case("data dir", "utt2spk: id without speaker", "utt2spk:2: missing value for id 'u2'",
         _speech("utt2spk", "u1 s1\nu2\n")),
    Case("data dir", "utt2spk: utterance missing", "id 'u2' is not in .*utt2spk", _speech("utt2spk", "u1 s1\n")),
    Case("data dir", "segments: time not a number", "segments:1: malformed line",
         _speech("segments", "u1 u1 0 x\nu2 u2 0 0.4\n")),
    Case("data dir", "segments: start >= end", "segments:1: expected 4 fields with 0 <= start < end",
         _speech("segments", "u1 u1 0.4 0.1\nu2 u2 0 0.4\n")),
    Case("data dir", "segments: infinite end time", "segments:1: .*finite",
         _speech("segments", "u1 u1 0 inf\nu2 u2 0 0.4\n")),
    Case("data dir", "segments: unknown recording", "segments:1: recording 'r9' is not in",
         _speech("segments", "u1 r9 0 0.2\nu2 u2 0 0.4\n")),
    # MT text dirs
    Case("MT dir", "text.en lacks an id of text.de", "text.de:2: id 'b' is not in .*text.en",
         _mt("text.en", "a good morning\n")),
    Case("MT dir", "text.en has an extra id", "text.en:3: id 'c' is not in .*text.de",
         _mt("text.en", "a good morning\nb hello world\nc extra\n")),
    Case("MT dir", "text.en missing", "text.en: file not found", _mt("text.en", None)),
    Case("MT dir", "text.de: empty sentence", "text.de:1: empty transcript for id 'a'",
         _mt("text.de", "a\nb hallo welt\n")),
    Case("MT dir", "text.de: not UTF-8", "text.de: not valid UTF-8", _mt("text.de", b"a gr\xfc\xdf\nb x\n")),
    # audio files
    Case("audio", "truncated WAV (header declares more data)", "truncated WAV file",
         _audio("trunc.wav", _truncated_wav)),
    Case("audio", "WAV header only (20 bytes)", "not a readable audio file", _audio("hdr.wav", _header_only_wav)),
    Case("audio", "zero-length file", "not a readable audio file", _audio("zero.wav", lambda p: p.write_bytes(b""))),
    Case("audio", "valid WAV with zero samples", "audio is empty",
         _audio("empty.wav", lambda p: sf.write(p, np.zeros(0, np.float32), 16000))),
    Case("audio", "NaN samples (float WAV)", "NaN or infinite samples", _audio("nan.wav", _nan_wav)),
    Case("audio", "text bytes named .wav", "not a readable audio file",
         _audio("text.wav", lambda p: p.write_text("not audio\n" * 100))),
    Case("audio", "random bytes named .flac", "not a readable audio file",
         _audio("rand.flac", lambda p: p.write_bytes(np.random.default_rng(0).bytes(3000)))),
    Case("audio", "truncated FLAC", "not a readable audio file", _audio("trunc.flac", _truncated_flac)),
    Case("audio", "segment beyond the end of the recording", "segment .* lies outside the recording",
         _audio("short.wav", lambda p: write_wav(p, 0.5), start=2.0, end=3.0)),
    Case("audio", "missing file", "audio file not found", _audio("gone.wav", lambda p: None)),
    # sentencepiece models
    Case("tokenizer", "truncated .model (half)", "not a sentencepiece model",
         _spm(lambda p, good: p.write_bytes(good[:len(good) // 2]))),
    Case("tokenizer", "empty .model", "not a sentencepiece model", _spm(lambda p, good: p.write_bytes(b""))),
    Case("tokenizer", "random bytes", "not a sentencepiece model",
         _spm(lambda p, good: p.write_bytes(np.random.default_rng(1).bytes(500)))),
    Case("tokenizer", "a text file", "not a sentencepiece model", _spm(lambda p, good: p.write_text("hello\n" * 50))),
    Case("tokenizer", "model with sentencepiece's default ids (no <blank> at 0)", "breaks the id convention",
         _spm(_spm_default_ids)),
    # YAML configs and overrides
    Case("config", "YAML syntax error (unclosed bracket)", r"not valid YAML: line \d+, column \d+",
         _yaml("optim:\n  betas: [0.9, 0.98\n")),
    Case("config", "tab indentation", "not valid YAML: .*'\\\\t'", _yaml("optim:\n\tlr: 1\n")),
    Case("config", "key given twice", "key 'lr' is given twice", _yaml("optim:\n  lr: 1.0\n  lr: 2.0\n")),
    Case("config", "unknown key (typo)", "unknown config key 'optim.lrr'; did you mean 'optim.lr'",
         _yaml("optim:\n  lrr: 1.0\n")),
    Case("config", "unknown nested key", "unknown config key 'model.encoder.foo'",
         _yaml("model:\n  encoder:\n    foo: 1\n")),
    Case("config", "wrong type (string for float)", "key 'optim.lr' expects float, got 'fast'",
         _yaml("optim:\n  lr: fast\n")),
    Case("config", "wrong type (bool for int)", "key 'train.max_epochs' expects int, got True",
         _yaml("train:\n  max_epochs: yes\n")),
    Case("config", "section given a scalar", "key 'data' must be a mapping", _yaml("data: 3\n")),
    Case("config", "top level is a list", "top level must be a mapping", _yaml("- optim\n")),
    Case("config", "integer key", "unknown config key '1'", _yaml("1: 2\n")),
    Case("config", "not UTF-8", "not a UTF-8 text file", _yaml(b"optim:\n  lr: \xff\n")),
    Case("config", "override without '='", "is not of the form key.subkey=value", _override("optim.lr")),
    Case("config", "override with an empty key part", "has an empty key", _override("optim..lr=1")),
    Case("config", "override value not YAML", "value is not valid YAML", _override("optim.betas=[0.9")),
    Case("config", "override with a python tag", "value is not valid YAML",
         _override("optim.lr=!!python/object/apply:os.system [ls]")),
    Case("config", "override of an unknown key", "unknown config key 'optim.lrr'", _override("optim.lrr=1")),
    Case("config", "override of the wrong type", "key 'train.max_epochs' expects int, got 1.5",
         _override("train.max_epochs=1.5")),
    # brick and model files
    Case("brick", "empty file", "not a readable legokit brick/model file", _brick(lambda p, e: p.write_bytes(b""))),
    Case("brick", "truncated (half)", "not a readable legokit brick/model file", _brick(_truncate)),
    Case("brick", "one byte of a weight flipped", "checksum mismatch", _brick(_flip_weight)),
    Case("brick", "plain torch file (no format)", "not a legokit brick",
         _brick(lambda p, e: torch.save({"weight": torch.ones(2)}, p))),
    Case("brick", "pickle that would run code", "not a readable legokit brick/model file \\(UnpicklingError",
         _brick(_evil_pickle)),
    Case("brick", "brick format but no manifest/state", "malformed brick",
         _brick(lambda p, e: torch.save({"format": "legokit-brick/1"}, p))),
    Case("brick", "manifest not JSON (re-signed)", "malformed brick manifest",
         _brick(_resigned(lambda d: d.update(manifest="{oops")))),
    Case("brick", "manifest without arch (re-signed)", "malformed brick manifest .*'arch'",
         _brick(_resigned(lambda d: d.update(manifest='{"kind": "encoder"}')))),
    Case("brick", "embedded tokenizer is garbage (re-signed)", ":output: not a sentencepiece model",
         _brick(_resigned(_garbage_tokenizer))),
    Case("brick", "a checkpoint given as a brick", "not a readable legokit brick/model file",
         _brick(lambda p, e: p.write_bytes(e.fixture("checkpoint").read_bytes()))),
    Case("brick", "model file: truncated", "not a readable legokit brick/model file", _brick(_truncate, "model.pt")),
    Case("brick", "model file: no bricks", "malformed model file",
         _brick(lambda p, e: torch.save({"format": "legokit-model/1", "bricks": []}, p), "model.pt")),
    # checkpoints
    Case("checkpoint", "empty file", "not a legokit checkpoint", _ckpt(lambda p, e: p.write_bytes(b""))),
    Case("checkpoint", "truncated (half)", "checkpoint is corrupted \\(unreadable torch archive", _ckpt(_truncate)),
    Case("checkpoint", "one byte of a weight flipped", "checkpoint is corrupted \\(sha256 mismatch",
         _ckpt(lambda p, e: flip_byte(p, p.read_bytes().index(torch.ones(3).numpy().tobytes()) + 2))),
    Case("checkpoint", "plain torch file (no _legokit entry)", "not a legokit checkpoint",
         _ckpt(lambda p, e: torch.save({"model": {}}, p))),
    Case("checkpoint", "a brick given as a checkpoint", "not a legokit checkpoint",
         _ckpt(lambda p, e: p.write_bytes((e.fixture("toy_model") / "bricks" / "encoder.brick").read_bytes()))),
    Case("checkpoint", "pickle that would run code", "cannot be loaded safely \\(UnpicklingError",
         _ckpt(lambda p, e: torch.save({"_legokit": {}, "model": Evil(e.tmp / "PWNED")}, p))),
    Case("checkpoint", "torch file holding a list", "payload is a list", _ckpt(lambda p, e: torch.save([1, 2], p))),
    Case("checkpoint", "format 1: one byte flipped", "checkpoint is corrupted \\(sha256 mismatch",
         _ckpt(lambda p, e: flip_byte(_format1(p, {"model": {}}), p.stat().st_size - 100))),
    Case("checkpoint", "format 1: pickle that would run code, correct digest",
         "cannot be loaded safely \\(UnpicklingError",
         _ckpt(lambda p, e: p.write_bytes(_signed(pickle.dumps(Evil(e.tmp / "PWNED")))))),
    Case("checkpoint", "format 1: payload not a dict, correct digest", "payload is a list",
         _ckpt(lambda p, e: p.write_bytes(_signed(_torch_bytes([1, 2]))))),
    # feature dumps and CMVN stats
    Case("features", "feats.scp missing (interrupted dump)", "feature index not found", _dump(None)),
    Case("features", "fbank.json not JSON", "corrupt feature dump metadata",
         _dump("u1 feats.00000.f32:0:10\n", meta="{", bad="fbank.json")),
    Case("features", "fbank.json without dim", "corrupt feature dump metadata .*'dim'",
         _dump("u1 feats.00000.f32:0:10\n", meta="{}", bad="fbank.json")),
    Case("features", "feats.scp malformed line", "feats.scp:1: malformed line", _dump("u1 feats.00000.f32:0\n")),
    Case("features", "feats.scp not UTF-8", "feats.scp: not a UTF-8 text file", _dump(b"u1 \xff.f32:0:1\n")),
    Case("features", "shard missing", "feature shard is missing", _dump("u1 feats.00000.f32:0:10\n", shard=None,
                                                                        bad="feats.00000.f32")),
    Case("features", "shard truncated mid-frame", "not a whole number of frames",
         _dump("u1 feats.00000.f32:0:10\n", shard=b"\0" * 150, bad="feats.00000.f32")),
    Case("features", "shard shorter than the index says", "lie outside feats.00000.f32 \\(5 frames\\)",
         _dump("u1 feats.00000.f32:0:10\n", shard=b"\0" * 80)),
    Case("features", "cmvn.json not JSON", "not a CMVN stats file", _cmvn("garbage")),
    Case("features", "cmvn.json with scalars", "not a CMVN stats file", _cmvn('{"count": 1, "sum": 3, "sumsq": 1}')),
    # score inputs
    Case("score", "empty reference", "file is empty", _score("", "a b\n", "ref.txt")),
    Case("score", "mismatched line counts", "has 2 lines but .* has 1", _score("a b\nc d\n", "a b\n", "ref.txt")),
    Case("score", "hypothesis not UTF-8", "not a UTF-8 text file", _score("a b\n", b"\xff\xfe\n", "hyp.txt")),
    Case("score", "Kaldi: hypothesis lacks ids", "1 id\\(s\\) of .* missing from",
         _score("u1 a\nu2 b\n", "u1 a\n", "hyp.txt", kaldi=True)),
    Case("score", "Kaldi: duplicate id", "hyp.txt:2: duplicate id", _score("u1 a\n", "u1 a\nu1 b\n", "hyp.txt",
                                                                           kaldi=True)),
    Case("score", "missing hypothesis file", "no such file", _score("a\n", None, "hyp.txt")),
]


def markdown_table() -> str:
    """The rows of docs/reliability.md's bad-input table."""
    rows = ["| reader | bad input | the error says |", "|---|---|---|"]
    rows += [f"| {c.area} | {c.what} | `{c.problem}` |" for c in CASES]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())

"""No command destroys or overwrites its inputs, and every failure to write is one line, never a traceback.

Outputs equal to an input (also through a symlink, a hard link or ``..``) are refused before anything is
touched; outputs are written to a temporary file and renamed, so a failure while writing (file size limit,
full disk, Ctrl-C) leaves neither the output nor a temporary file. Faults are real: ``ulimit -f`` (RLIMIT_FSIZE),
an immutable directory (``chattr +i``), a 64 KiB tmpfs, SIGINT and a closed pipe sent to a real process.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from robustness.conftest import tiny_overrides

from legokit.cli import main
from legokit.fileio import atomic_output


def _cli(capfd: pytest.CaptureFixture[str], *argv: str, status: int = 2) -> str:
    """Run `legokit ARGV` in-process; assert the exit status and return its one stderr line."""
    capfd.readouterr()
    assert main(["--log-level", "ERROR", *argv]) == status
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _decode(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["decode", "--model", str(model), "--data-dir", str(data), "--out", str(out), "beam.beam_size=1",
            "beam.max_len_ratio=0", "beam.max_len_offset=3", *extra]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


def _subprocess(argv: list[str], progress: bool = False, **kwargs: object) -> subprocess.Popen:
    """`legokit ARGV` as a real process (stderr piped); with ``progress`` it shows its progress bar at once."""
    env = None
    if progress:  # CI sets LEGOKIT_NO_TQDM=1; this test needs the bar to know decoding has started
        env = {k: v for k, v in os.environ.items() if k != "LEGOKIT_NO_TQDM"} | {"LEGOKIT_PROGRESS_INTERVAL": "0.2"}
    # the child starts with SIGINT at its default, whatever this process inherited: a runner started in the
    # background of a shell without job control ignores SIGINT (SIG_IGN survives exec), and so would the child
    return subprocess.Popen([sys.executable, "-m", "legokit.cli", "--log-level", "ERROR", *argv], env=env,
                            stderr=subprocess.PIPE, preexec_fn=_with_default_sigint(kwargs.pop("preexec_fn", None)),
                            **kwargs)


def _with_default_sigint(then: object = None) -> object:
    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if then is not None:
            then()
    return preexec


def _many_sentences(mt_dir: Path, n: int) -> None:
    (mt_dir / "text.de").write_text("".join(f"s{i} guten morgen hallo welt\n" for i in range(n)))
    (mt_dir / "text.en").write_text("".join(f"s{i} good morning hello world\n" for i in range(n)))


def _ref_hyp(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "ref.txt").write_text("the cat sat on the mat\na dog\n")
    (tmp_path / "hyp.txt").write_text("the cat sat on a mat\na dog\n")
    return tmp_path / "ref.txt", tmp_path / "hyp.txt"


# --- outputs equal to an input are refused before anything is touched ---------------------------------------


@pytest.mark.parametrize("name", ["text.de", "text.en"])
def test_mt_decode_into_its_own_source_or_reference_is_refused(toy_model: Path, mt_dir: Path, name: str,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    before = (mt_dir / name).read_bytes()
    err = _cli(capfd, *_decode(toy_model / "model.pt", mt_dir, mt_dir / name))
    assert err == (f"legokit decode: error: {mt_dir / name}: refusing to overwrite the input {mt_dir / name}; "
                   "choose another output path")
    assert (mt_dir / name).read_bytes() == before and not _leftovers(mt_dir)


def test_asr_decode_into_the_references_is_refused(toy_model: Path, speech_dir: Path, tmp_path: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-level", "ERROR", "features", "--data-dir", str(speech_dir), "--out-dir",
                 str(tmp_path / "dump")]) == 0
    before = (speech_dir / "text").read_bytes()
    err = _cli(capfd, *_decode(toy_model / "model.pt", speech_dir, speech_dir / "text", "--feats",
                               str(tmp_path / "dump" / "feats.scp")))
    assert f"{speech_dir / 'text'}: refusing to overwrite the input" in err
    assert (speech_dir / "text").read_bytes() == before
    err = _cli(capfd, *_decode(toy_model / "model.pt", speech_dir, tmp_path / "dump" / "feats.scp", "--feats",
                               str(tmp_path / "dump" / "feats.scp")))
    assert "refusing to overwrite the input" in err and (tmp_path / "dump" / "feats.scp").stat().st_size > 0


@pytest.mark.parametrize("link", ["symlink", "hardlink", "dotdot", "symlinked-dir"])
def test_decode_output_that_is_the_input_under_another_name_is_refused(
        toy_model: Path, mt_dir: Path, tmp_path: Path, link: str, capfd: pytest.CaptureFixture[str]) -> None:
    source = mt_dir / "text.de"
    before = source.read_bytes()
    out = {"symlink": tmp_path / "hyp.txt", "hardlink": tmp_path / "hyp.txt",
           "dotdot": mt_dir / "sub" / ".." / "text.de", "symlinked-dir": tmp_path / "alias" / "text.de"}[link]
    if link == "symlink":
        out.symlink_to(source)
    elif link == "hardlink":
        os.link(source, out)
    elif link == "symlinked-dir":
        out.parent.symlink_to(mt_dir)
    else:
        (mt_dir / "sub").mkdir()
    err = _cli(capfd, *_decode(toy_model / "model.pt", mt_dir, out))
    assert f"{out}: refusing to overwrite the input {source}" in err
    assert source.read_bytes() == before


@pytest.mark.parametrize("which", ["ref", "hyp", "compare"])
def test_score_output_equal_to_an_input_is_refused(tmp_path: Path, which: str,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    ref, hyp = _ref_hyp(tmp_path)
    other = tmp_path / "other.txt"
    shutil.copy(hyp, other)
    target = {"ref": ref, "hyp": hyp, "compare": other}[which]
    before = target.read_bytes()
    err = _cli(capfd, "score", "bleu", "--ref", str(ref), "--hyp", str(hyp), "--compare", str(other),
               "--output", str(target))
    assert err.endswith(f"{target}: refusing to overwrite the input {target}; choose another output path")
    assert target.read_bytes() == before and not _leftovers(tmp_path)


def test_compose_and_average_into_an_input_are_refused(toy_model: Path, tmp_path: Path,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    bricks = shutil.copytree(toy_model / "bricks", tmp_path / "bricks")
    before = (bricks / "encoder.brick").read_bytes()
    err = _cli(capfd, "compose", str(bricks / "encoder.brick"), str(bricks / "decoder.brick"), "-o",
               str(bricks / "encoder.brick"))
    assert f"refusing to overwrite the input {bricks / 'encoder.brick'}" in err
    assert (bricks / "encoder.brick").read_bytes() == before

    exp = _tiny_exp(tmp_path / "exp")
    last = exp / "checkpoints" / "ckpt-2.pt"
    before = last.read_bytes()
    err = _cli(capfd, "average", "--exp-dir", str(exp), "--last", "--num", "2", "-o", str(last))
    assert f"refusing to overwrite the input {last}" in err and last.read_bytes() == before
    assert main(["average", "--exp-dir", str(exp), "--last", "--num", "2", "-o", str(exp / "avg.pt")]) == 0


def test_features_into_a_kaldi_dir_with_its_own_feats_scp_is_refused(speech_dir: Path,
                                                                      capfd: pytest.CaptureFixture[str]) -> None:
    (speech_dir / "feats.scp").write_text("u1 /kaldi/raw_fbank.1.ark:9\n")  # Kaldi's own features
    err = _cli(capfd, "features", "--data-dir", str(speech_dir), "--out-dir", str(speech_dir))
    assert f"refusing to overwrite the input {speech_dir / 'feats.scp'}" in err
    assert (speech_dir / "feats.scp").read_text() == "u1 /kaldi/raw_fbank.1.ark:9\n"


def test_analyze_json_equal_to_the_reference_is_refused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    ref, hyp = _ref_hyp(tmp_path)
    before = ref.read_bytes()
    err = _cli(capfd, "analyze", "longtail", "--train-ref", str(ref), "--ref", str(ref), "--hyp", str(hyp),
               "--json", str(ref))
    assert "refusing to overwrite the input" in err and ref.read_bytes() == before


def test_output_that_is_a_directory_or_under_a_file_is_one_line(toy_model: Path, mt_dir: Path, tmp_path: Path,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    ref, hyp = _ref_hyp(tmp_path)
    err = _cli(capfd, "score", "bleu", "--ref", str(ref), "--hyp", str(hyp), "--output", str(tmp_path))
    assert err == f"legokit score: error: {tmp_path}: is a directory; give a file name to write"
    err = _cli(capfd, *_decode(toy_model / "model.pt", mt_dir, ref / "sub" / "hyp"))
    assert err == f"legokit decode: error: {ref / 'sub' / 'hyp'}: cannot be written: {ref} is a file, not a directory"


# --- write failures: one line, no output, no temporary file --------------------------------------------------


def _file_size_limit(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_decode_over_the_file_size_limit_leaves_nothing(toy_model: Path, mt_dir: Path, tmp_path: Path) -> None:
    """`ulimit -f`: the kernel's SIGXFSZ would kill the process mid-write; legokit ignores it, so the write
    fails with EFBIG, the temporary file is removed and the error is one line."""
    _many_sentences(mt_dir, 40)
    out = tmp_path / "decode" / "hyp"
    out.parent.mkdir()
    proc = _subprocess(_decode(toy_model / "model.pt", mt_dir, out), preexec_fn=_file_size_limit(100), text=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert err.strip() == f"legokit decode: error: {out}: File too large"
    assert list(out.parent.iterdir()) == []


def test_score_output_on_a_full_disk_leaves_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    full = tmp_path / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        fd = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)
        with pytest.raises(OSError, match="No space left"):
            for _ in range(64):
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        ref, hyp = _ref_hyp(tmp_path)
        err = _cli(capfd, "score", "bleu", "--ref", str(ref), "--hyp", str(hyp), "--output",
                   str(full / "scores.json"), status=1)
        assert err == f"legokit score: error: {full / 'scores.json'}: No space left on device"
        assert sorted(os.listdir(full)) == ["filler"]
    finally:
        subprocess.run(["umount", str(full)], check=True)


def _tiny_exp(exp: Path) -> Path:
    """A training dir with two checkpoints, enough for `legokit average --last`."""
    from legokit.train.checkpoint import save_checkpoint

    for step in (1, 2):
        save_checkpoint({"model": {"w": torch.full((2,), float(step))}}, exp / "checkpoints" / f"ckpt-{step}.pt")
    return exp


@pytest.mark.parametrize("command", ["decode", "compose", "average", "score", "features", "train"])
def test_writing_into_an_immutable_directory_is_one_line(command: str, toy_model: Path, toy_tokenizers: Path,
                                                         mt_dir: Path, speech_dir: Path, tmp_path: Path,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    """`chattr +i` stops root too (a read-only mount behaves the same): refused in one line, nothing written."""
    locked = tmp_path / "locked"
    locked.mkdir()
    ref, hyp = _ref_hyp(tmp_path)
    argv = {"decode": _decode(toy_model / "model.pt", mt_dir, locked / "hyp"),
            "compose": ["compose", str(toy_model / "bricks" / "encoder.brick"),
                        str(toy_model / "bricks" / "decoder.brick"), "-o", str(locked / "model.pt")],
            "average": ["average", "--exp-dir", str(_tiny_exp(tmp_path / "exp")), "--last", "--num", "2", "-o",
                        str(locked / "avg.pt")],
            "score": ["score", "bleu", "--ref", str(ref), "--hyp", str(hyp), "--output", str(locked / "s.json")],
            "features": ["features", "--data-dir", str(speech_dir), "--out-dir", str(locked / "dump")],
            "train": ["train", "--out-dir", str(locked / "exp"), *tiny_overrides(toy_tokenizers),
                      "train.max_epochs=1"]}[command]
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    try:
        capfd.readouterr()
        assert main(["--log-level", "ERROR", *argv]) in (1, 2)
        err = capfd.readouterr().err.strip()
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert len(err.splitlines()) == 1 and "Traceback" not in err and str(locked) in err, err
    assert err.startswith(f"legokit {command}: error: ")
    assert list(locked.iterdir()) == []


def test_features_over_the_file_size_limit_leave_no_shard(speech_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dump"
    proc = _subprocess(["features", "--data-dir", str(speech_dir), "--out-dir", str(out)],
                       preexec_fn=_file_size_limit(1000), text=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert err.strip() == f"legokit features: error: {out / 'feats.00000.f32'}: File too large"
    assert not [p.name for p in out.iterdir() if p.name != ".lock"]


def test_atomic_output_removes_the_temporary_file_on_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), atomic_output(out) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["out.txt"] and out.read_text() == "old\n"


# --- signals, pipes, devices ---------------------------------------------------------------------------------


def test_ctrl_c_in_decode_exits_130_with_one_line_and_no_output(toy_model: Path, mt_dir: Path,
                                                                tmp_path: Path) -> None:
    _many_sentences(mt_dir, 300000)  # the toy model decodes ~30,000 sentences a second on a quiet machine
    out = tmp_path / "decode" / "hyp"
    proc = _subprocess(_decode(toy_model / "model.pt", mt_dir, out), progress=True)
    seen = b""
    deadline = time.monotonic() + 120
    while b"decode " not in seen and time.monotonic() < deadline:  # the progress bar: decoding has started
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, f"legokit decode ended before it was interrupted: {seen!r}"
        seen += chunk
    proc.send_signal(signal.SIGINT)  # at once: the bar has just shown that decoding runs
    err = (seen + proc.communicate(timeout=60)[1]).decode()
    assert proc.returncode == 130, f"{err} (SIGINT in the test process: {signal.getsignal(signal.SIGINT)})"
    assert err.rstrip().endswith("legokit decode: interrupted")  # after the bar's last redraw, maybe on its line
    assert "Traceback" not in err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no hypotheses, no temporary file


def test_score_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """`legokit score ... | head -1` with the reader gone before the first write: no traceback."""
    ref, hyp = _ref_hyp(tmp_path)
    proc = _subprocess(["score", "all", "--ref", str(ref), "--hyp", str(hyp), "--metrics", "bleu,chrf,wer",
                        "--json"], stdout=subprocess.PIPE)
    proc.stdout.close()  # the reader exits before legokit writes
    _, err = proc.communicate(timeout=120)
    assert err.decode() == "" and proc.returncode == 141


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="a GPU is here")
@pytest.mark.parametrize(("device", "says"), [
    ("cuda:0", "--device cuda:0: no such device on this machine (available: cpu)"),
    ("cuda:3", "--device cuda:3: no such device on this machine (available: cpu)"),
    ("mps", "--device mps: no such device on this machine (available: cpu)"),
    ("tpu", "--device 'tpu': not a torch device (expected e.g. cpu, cuda:0, mps)")])
def test_decode_on_a_missing_device_is_one_line(toy_model: Path, mt_dir: Path, tmp_path: Path, device: str,
                                                says: str, capfd: pytest.CaptureFixture[str]) -> None:
    err = _cli(capfd, *_decode(toy_model / "model.pt", mt_dir, tmp_path / "hyp", "--device", device))
    assert err == f"legokit decode: error: {says}"
    assert not (tmp_path / "hyp").exists()

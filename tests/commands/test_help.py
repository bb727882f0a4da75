"""Every `--help` of every command and subcommand states each option's default at most once."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from legokit.cli import build_parser, main


def _command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _command_paths(sub, (*path, name))


def _option_entries(help_text: str) -> Iterator[str]:
    """The entries of a help text's argument sections: a line indented by two, with its continuation lines."""
    entry: list[str] = []
    for line in help_text.splitlines():
        if re.match(r"^ {2}\S", line) or not re.match(r"^ {3,}\S", line):
            if entry:
                yield " ".join(" ".join(entry).split())
            entry = [line] if re.match(r"^ {2}\S", line) else []
        else:
            entry.append(line)
    if entry:
        yield " ".join(" ".join(entry).split())


PATHS = list(_command_paths(build_parser()))


def test_every_command_and_subcommand_is_checked():
    assert ("score",) in PATHS and ("data", "export-kaldi") in PATHS and ("brick", "compress") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "legokit")
def test_no_option_states_its_default_twice(path: tuple[str, ...], capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as done:
        main([*path, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: legokit")
    doubled = [entry for entry in _option_entries(text) if entry.count("(default") > 1]
    assert not doubled, doubled


def test_score_help_says_the_bootstrap_default_once(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "resamples of the test set for --compare (default: 1000)" in text and "(default 1000)" not in text


def test_help_does_not_import_torch_and_compress_choices_agree() -> None:
    """`legokit --help` and every recipe's first call stay fast: building the parser imports no torch."""
    import subprocess
    import sys

    code = ("import sys, legokit.cli; legokit.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))[:3])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"building the CLI parser imports {out.strip()}"
    from legokit.commands import brick_compress
    from legokit.workflows import compress

    assert (brick_compress.METHODS, brick_compress.PRUNE_SCOPES) == (compress.METHODS, compress.PRUNE_SCOPES)


def test_overrides_may_come_before_between_and_after_options():
    """`legokit train --config c --out-dir d k=v` (fairseq/ESPnet habit) parses; argparse alone rejected
    overrides after an option that followed other overrides ("unrecognized arguments")."""
    from legokit.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["train", "a.b=1", "--config", "c.yaml", "--out-dir", "exp/x", "c.d=2", "e=3"])
    assert (args.config, str(args.out_dir), args.overrides) == ("c.yaml", "exp/x", ["a.b=1", "c.d=2", "e=3"])
    args = parser.parse_args(["decode", "--model", "m.pt", "--data-dir", "d", "beam.beam_size=2", "--out", "h",
                              "beam.nbest=1"])
    assert args.overrides == ["beam.beam_size=2", "beam.nbest=1"] and str(args.out) == "h"
    args = parser.parse_args(["tts", "train", "--out-dir", "exp/t", "train_utts=2", "--config", "c.yaml", "x=1"])
    assert args.overrides == ["train_utts=2", "x=1"]


def test_a_command_builds_and_imports_its_own_parser_only(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`legokit decode ...` imports legokit.commands.decode and no other command module (≈ 0.13 CPU s of
    imports saved); its help is the one the whole parser gives."""
    import subprocess
    import sys

    from legokit.cli import command_of

    assert [command_of(a) for a in (["decode", "--model", "m"], ["--log-level", "DEBUG", "decode"],
                                    ["--log-level=ERROR", "score"], ["--log", "INFO", "tts", "train"])] == \
        ["decode", "decode", "score", "tts"]
    assert [command_of(a) for a in ([], ["--help"], ["-h", "decode"], ["--version"], ["nope"], ["--", "decode"])] \
        == [None] * 6
    code = ("import sys, legokit.cli as c; c.build_parser(c.command_of(['decode', '--model', 'm'])); "
            "print(sorted(m for m in sys.modules if m.startswith('legokit.commands.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['legokit.commands.decode']"
    assert build_parser("decode").parse_args(["decode", "--model", "m", "--data-dir", "d", "--out", "h", "x=1"]) \
        .overrides == ["x=1"]
    monkeypatch.setenv("COLUMNS", "100")
    helps = []
    for parser in (build_parser(), build_parser("decode")):
        with pytest.raises(SystemExit):
            parser.parse_args(["decode", "--help"])
        helps.append(capsys.readouterr().out)
    assert helps[0] == helps[1] and helps[0].startswith("usage: legokit decode")


def test_the_heap_is_frozen_at_exit_once_main_ran() -> None:
    """legokit.cli.main registers gc.freeze at exit: the interpreter's final collections then skip the objects
    torch leaves (≈ 0.1 CPU s of every command)."""
    import subprocess
    import sys

    code = ("import atexit, gc; atexit.register(lambda: print(gc.get_freeze_count() > 0, flush=True)); "
            "import legokit.cli as c; print(gc.get_freeze_count() > 0); c.main(['score', '--help'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert (out[0], out[-1]) == ("False", "True")

"""`legokit <command>`: the single command-line entry point.

Each command lives in its own module under ``legokit/commands/`` and defines

    HELP: str                                   one line for `legokit --help`
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int    exit status

Commands are listed explicitly below (no import-time registry); a module is imported only when the
parser is built, so a command's heavy imports do not slow down the others. `legokit <command> ...` builds the
parser of that command only (the 21 command modules and what they import cost ≈ 0.13 CPU s); `legokit`,
`legokit --help` and an unknown command build them all.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import functools
import gc
import importlib
import logging
import os
import signal
import sys
import threading

from legokit import __version__
from legokit.errors import LegokitError

#: command name -> module path. Keep sorted by how a recipe uses them.
COMMANDS: dict[str, str] = {
    "corpus": "legokit.commands.corpus",
    "prepare": "legokit.commands.prepare",
    "tokenizer": "legokit.commands.tokenizer",
    "lm": "legokit.commands.lm",
    "features": "legokit.commands.features",
    "train": "legokit.commands.train",
    "decode": "legokit.commands.decode",
    "translate": "legokit.commands.translate",
    "transcribe": "legokit.commands.transcribe",
    "summarize": "legokit.commands.summarize",
    "score": "legokit.commands.score",
    "results": "legokit.commands.results",
    "table": "legokit.commands.table",
    "brick": "legokit.commands.brick",
    "compose": "legokit.commands.compose",
    "average": "legokit.commands.average",
    "analyze": "legokit.commands.analyze",
    "validate": "legokit.commands.validate",
    "tts": "legokit.commands.tts",
    "queue": "legokit.commands.queue",
    "data": "legokit.commands.data",
}

#: errors of the file system and its limits, not of legokit: reported as one line, exit 1
FILE_SYSTEM_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EISDIR,
                      errno.ENOTDIR, errno.ENOENT, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP, errno.EMFILE}


class CommandParser(argparse.ArgumentParser):
    """A command's parser: KEY=VALUE overrides may come before, between and after the options
    (`legokit train --config c.yaml --out-dir exp/x optim.lr=1e-3 train.seed=2`), as in fairseq and ESPnet,
    instead of argparse's single block of positionals ("unrecognized arguments")."""

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):
        # argparse cannot intermix around sub-commands or a REMAINDER (`legokit queue ... -- CMD ARGS`)
        fixed = any(a.nargs in (argparse.PARSER, argparse.REMAINDER) for a in self._actions)
        if fixed or self._intermixing:  # parse_known_intermixed_args calls back into this method
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def command_of(argv: list[str]) -> str | None:
    """The command ``argv`` names (its first word after the top-level options), or None when it names none
    that is known, or asks for the top-level help or version first."""
    args = iter(argv)
    for arg in args:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
        name, value, _ = arg.partition("=")
        if not (len(name) > 2 and "--log-level".startswith(name)):  # argparse takes abbreviations too
            return None  # -h, --help, --version or an unknown option: the whole parser answers
        if not value:
            next(args, None)  # --log-level LEVEL
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of the command ``only`` alone (its module is the only one imported)."""
    parser = argparse.ArgumentParser(
        prog="legokit",
        description="legokit: modular speech and translation toolkit (LegoNN bricks, recipes, scoring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"legokit {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="verbosity of the log lines written to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    sub.required = True
    for name, module_path in COMMANDS.items():
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as err:
            if err.name == module_path:  # command not built yet
                continue
            raise
        p = sub.add_parser(name, help=module.HELP, description=module.HELP,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


@functools.cache
def _freeze_at_exit() -> None:
    """Register gc.freeze at interpreter exit (once): the collections of the interpreter's finalisation then
    skip the objects torch and the command leave (≈ 0.1 CPU s of every command that imports torch; objects
    still in reference cycles then are not finalised, which Python does not promise either)."""
    atexit.register(gc.freeze)


def main(argv: list[str] | None = None) -> int:
    _freeze_at_exit()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_of(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    logging.getLogger("absl").setLevel(max(logging.WARNING, logging.getLogger().level))  # rouge-score's chatter
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # `ulimit -f`: a write fails with EFBIG, cleanup runs
    try:
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # a closed pipe (`| head -1`) shows here, not at interpreter exit
        return status
    except LegokitError as err:
        print(f"legokit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"legokit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away: stop quietly, as coreutils do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:
        if err.errno not in FILE_SYSTEM_ERRNOS:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"legokit {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

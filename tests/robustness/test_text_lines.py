"""Class 7 of issue 19: text is split into lines only at line ends.

``str.splitlines()`` and Python's universal-newline mode also end a line at form feed, U+0085, U+2028/9
or a stray ``\\r``; that made 2-line dirs 3 lines, cut a sentence in two, shifted error line numbers and
desynchronised parallel corpora. Every reader splits at ``\\n`` (``\\r\\n`` tolerated) through
legokit.fileio, and drops a UTF-8 byte order mark at the start of a file.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest
from robustness.cases import write_wav

from legokit.cli import main
from legokit.corpora.text import read_text
from legokit.corpora.wmt import read_parallel
from legokit.errors import LegokitError
from legokit.fileio import iter_text_lines, read_text_lines, split_lines
from legokit.score.metrics import compute, score_files

PACKAGE = Path(__file__).parents[2] / "legokit"
#: characters str.splitlines() (and some of them universal newlines) take for line ends
NOT_LINE_ENDS = ["\x0c", "\x0b", "\x1c", "\x85", "\u2028", "\u2029", "\r"]

#: (file, function) allowed to call .splitlines() on strings legokit made itself, never file contents
#: (besides ``str(err).splitlines()``, the first line of an exception message, allowed everywhere)
SPLITLINES_ALLOWED = {
    ("corpora/debian.py", "_run"): "the tail of a subprocess's output",
    ("workflows/experiment.py", "_check_resumable"): "a diff of two YAML texts that legokit wrote",
}


def _calls(tree: ast.AST):
    """(enclosing function name, call node) for every call in ``tree``."""
    def visit(node: ast.AST, func: str):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Call):
                yield func, child
            yield from visit(child, name)
    yield from visit(tree, "<module>")


def _text_read_without_newline(call: ast.Call) -> bool:
    """An ``open(...)``/``X.open(...)`` call reading text without an explicit ``newline=``."""
    func = call.func
    if isinstance(func, ast.Name) and func.id == "open":
        mode_arg = call.args[1] if len(call.args) > 1 else None
    elif isinstance(func, ast.Attribute) and func.attr == "open" and not (
            isinstance(func.value, ast.Name) and func.value.id in ("os", "tarfile", "zipfile")):
        is_module = isinstance(func.value, ast.Name) and func.value.id in ("gzip", "lzma", "bz2", "io")
        mode_arg = call.args[1 if is_module else 0] if len(call.args) > (1 if is_module else 0) else None
    else:
        return False
    mode_arg = next((k.value for k in call.keywords if k.arg == "mode"), mode_arg)
    modes = [n.value for n in ast.walk(mode_arg) if isinstance(n, ast.Constant) and isinstance(n.value, str)] \
        if mode_arg is not None else ["r"]
    reads_text = any("b" not in m and not set(m) & set("wax+") for m in modes)
    return reads_text and not any(k.arg == "newline" for k in call.keywords)


def scan(root: Path) -> list[str]:
    """Places in ``root`` that split file contents at more than line ends."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for func, call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            attr = call.func.attr if isinstance(call.func, ast.Attribute) else None
            receiver = call.func.value if attr else None
            of_message = isinstance(receiver, ast.Call) and getattr(receiver.func, "id", "") == "str"
            if attr in ("splitlines", "readlines") and (rel, func) not in SPLITLINES_ALLOWED and not of_message:
                found.append(f"{rel}:{call.lineno} ({func}): .{attr}() splits at form feed, U+0085, U+2028 ...; "
                             "use legokit.fileio.read_text_lines / split_lines")
            elif _text_read_without_newline(call):
                found.append(f"{rel}:{call.lineno} ({func}): text-mode open() without newline= ends lines at a "
                             "stray \\r; use legokit.fileio.iter_text_lines (or newline='\\n')")
    return found


def test_no_reader_splits_file_contents_at_more_than_line_ends() -> None:
    assert scan(PACKAGE) == []


def test_the_scanner_finds_what_it_must(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from pathlib import Path\n"
                                     "def a(p):\n    return Path(p).read_text().splitlines()\n"
                                     "def b(p):\n    with open(p, encoding='utf-8') as f:\n        return list(f)\n"
                                     "def c(p):\n    return Path(p).open().readlines()\n"
                                     "def d(p):\n    with open(p, 'w') as f, open(p, 'rb') as g, "
                                     "open(p, newline='\\n') as h:\n        return f, g, h\n")
    found = scan(tmp_path)
    assert [line.split(" ", 2)[:2] for line in found] == [
        ["bad.py:3", "(a):"], ["bad.py:5", "(b):"], ["bad.py:8", "(c):"], ["bad.py:8", "(c):"]], found


@pytest.mark.parametrize("char", NOT_LINE_ENDS, ids=repr)
def test_split_lines_ends_lines_only_at_newline(char: str, tmp_path: Path) -> None:
    text = f"a x{char}y\r\nb z\n"
    assert split_lines(text) == [f"a x{char}y", "b z"]
    path = tmp_path / "f.txt"
    path.write_bytes(text.encode("utf-8"))
    assert read_text_lines(path) == list(iter_text_lines(path)) == [f"a x{char}y", "b z"]


def test_a_byte_order_mark_is_dropped_and_a_last_line_needs_no_newline(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes("\ufeffu1 a\n\nu2 \ufeffb".encode())
    assert read_text_lines(path) == list(iter_text_lines(path)) == ["u1 a", "", "u2 \ufeffb"]  # only at the start
    assert split_lines("") == [] and split_lines("\n") == [""]


@pytest.mark.parametrize("char", NOT_LINE_ENDS, ids=repr)
def test_validate_counts_two_examples_for_a_two_line_mt_dir(char: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    mt = tmp_path / "mt"
    mt.mkdir()
    (mt / "text.de").write_bytes(f"a guten{char}morgen\nb hallo welt\n".encode())
    (mt / "text.en").write_bytes(f"a good morning\r\nb hello{char}world\r\n".encode())
    assert main(["validate", str(mt), "--langs", "de", "en"]) == 0
    assert f"{mt}: OK, 2 aligned examples" in capsys.readouterr().out


def test_error_line_numbers_count_only_real_lines(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    mt = tmp_path / "mt"
    mt.mkdir()
    (mt / "text.de").write_bytes("a eins\x0czwei\u2028drei\x85vier\nb\n".encode())  # line 2 has no sentence
    (mt / "text.en").write_text("a one\nb two\n")
    assert main(["validate", str(mt), "--langs", "de", "en"]) == 2
    err = capfd.readouterr().err
    assert f"{mt / 'text.de'}:2: empty transcript for id 'b'" in err, err


def test_byte_order_marks_in_a_speech_dir_and_an_mt_dir_are_not_part_of_the_first_id(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    speech = tmp_path / "speech"
    speech.mkdir()
    write_wav(tmp_path / "u1.wav")
    for name, content in (("wav.scp", f"u1 {tmp_path / 'u1.wav'}\n"), ("text", "u1 hello\n"), ("utt2spk", "u1 s\n")):
        (speech / name).write_bytes(b"\xef\xbb\xbf" + content.encode())
    assert main(["validate", str(speech)]) == 0
    mt = tmp_path / "mt"
    mt.mkdir()
    (mt / "text.de").write_bytes(b"\xef\xbb\xbfa hallo\n")
    (mt / "text.en").write_bytes(b"a hello\n")
    assert main(["validate", str(mt), "--langs", "de", "en"]) == 0
    assert capsys.readouterr().out.count("OK, 1 ") == 2
    assert read_text(mt / "text.de") == {"a": "hallo"}  # the prepare stages' reader too


def test_a_stray_carriage_return_keeps_a_wmt_pair_aligned(tmp_path: Path) -> None:
    (tmp_path / "src.de").write_bytes(b"eins\rzwei\ndrei\n")
    (tmp_path / "src.en").write_bytes(b"one two\r\nthree\r\n")
    pairs = list(read_parallel(tmp_path / "src.de", tmp_path / "src.en"))
    assert [en for _, en in pairs] == ["one two", "three"] and pairs[1] == ("drei", "three")


def test_a_byte_order_mark_does_not_change_wer(tmp_path: Path) -> None:
    ref, hyp = tmp_path / "ref", tmp_path / "hyp"
    ref.write_text("u1 a b c d e\n")
    hyp.write_bytes("\ufeffu1 a b c d x\n".encode())
    assert score_files(ref, hyp, ["wer"], kaldi=True)["wer"] == pytest.approx(20.0)
    ref.write_bytes("\ufeffa b c d e\n".encode())
    hyp.write_text("a b c d x\n")
    assert score_files(ref, hyp, ["wer"])["wer"] == pytest.approx(20.0)


def test_a_line_separator_inside_a_segment_keeps_score_lines_aligned(tmp_path: Path) -> None:
    ref, hyp = tmp_path / "ref", tmp_path / "hyp"
    ref.write_text("a b\u2028c d\ne f\n")
    hyp.write_text("a b c d\ne f\n")
    assert score_files(ref, hyp, ["wer"]) == compute(["wer"], ["a b\u2028c d", "e f"], ["a b c d", "e f"])


def test_a_reference_of_blank_lines_is_refused_not_scored_300(tmp_path: Path,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    ref, hyp = tmp_path / "ref", tmp_path / "hyp"
    ref.write_text("\n\n\n")
    hyp.write_text("a\nb\nc\n")
    assert main(["score", "wer", "--ref", str(ref), "--hyp", str(hyp)]) == 2
    err = capfd.readouterr().err.strip()
    assert re.fullmatch(rf"legokit score: error: {re.escape(str(ref))}: all 3 reference segments are empty .*", err)
    (tmp_path / "kref").write_text("u1\nu2 \n")
    with pytest.raises(LegokitError, match="kref: all 2 reference segments are empty"):
        score_files(tmp_path / "kref", tmp_path / "kref", ["bleu"], kaldi=True)


def test_some_empty_reference_lines_are_scored_as_insertions_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    ref, hyp = tmp_path / "ref", tmp_path / "hyp"
    ref.write_text("a b c d\n\n")
    hyp.write_text("a b c d\nx\n")
    assert score_files(ref, hyp, ["wer"])["wer"] == pytest.approx(25.0)  # 1 insertion / 4 reference words
    assert "1 of 2 reference segments are empty (line 2)" in caplog.text

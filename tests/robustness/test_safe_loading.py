"""Loading a file never runs code from it.

(a) An ast scan of every module under legokit/ for unsafe deserialisation (torch.load without
    weights_only=True, pickle/marshal/shelve/joblib loads, np.load(allow_pickle=True), yaml.load without a
    SafeLoader, eval/exec); the one allowed exception is fairseq's explicit ``trusted`` opt-in.
(b) Every loader of a user file is fed a file whose unpickling would run ``touch MARKER``
    (robustness.cases.Evil): it must refuse with a one-line LegokitError, and MARKER must never appear.
    Loaders with a command are driven through that command.
"""

from __future__ import annotations

import ast
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from robustness.cases import Evil
from robustness.conftest import tiny_overrides

from legokit.cli import main
from legokit.config import dump_yaml, load_config
from legokit.data.features import CMVNStats
from legokit.errors import LegokitError
from legokit.interop.fairseq import read_checkpoint
from legokit.train.checkpoint import MAGIC
from legokit.workflows.experiment import ExperimentConfig

PACKAGE = Path(__file__).parents[2] / "legokit"

#: calls that unpickle or execute whatever the file holds, whatever their arguments
UNSAFE_CALLS = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "cPickle.load",
    "cPickle.loads", "dill.load", "dill.loads", "joblib.load", "marshal.load", "marshal.loads", "shelve.open",
    "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load", "yaml.full_load_all", "pandas.read_pickle",
    "torch.jit.load", "builtins.eval", "builtins.exec", "eval", "exec",
}
SAFE_YAML_LOADERS = {"yaml.SafeLoader", "yaml.CSafeLoader", "yaml.BaseLoader", "yaml.CBaseLoader"}
#: (file, function, source of the weights_only value): the only torch.load whose safety a user chooses
TRUSTED_OPT_IN = {("interop/fairseq.py", "read_checkpoint", "not trusted")}


class _Scan(ast.NodeVisitor):
    """Collect (line, problem) for unsafe loads in one module, resolving import aliases."""

    def __init__(self, rel: str, tree: ast.Module) -> None:
        self.rel, self.problems, self.func = rel, [], ""
        self.alias: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                self.alias.update({a.asname or a.name: a.name for a in node.names})
            elif isinstance(node, ast.ImportFrom) and node.module:
                self.alias.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
        self.safe_loaders = set(SAFE_YAML_LOADERS)
        for node in ast.walk(tree):  # module classes derived from a safe loader (config._StrictLoader)
            if isinstance(node, ast.ClassDef) and any(self.name(b) in SAFE_YAML_LOADERS for b in node.bases):
                self.safe_loaders.add(node.name)

    def name(self, node: ast.AST) -> str:
        """Dotted name of a Name/Attribute chain with its import alias resolved ('' if not a plain chain)."""
        if isinstance(node, ast.Name):
            return self.alias.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.name(node.value)
            return f"{base}.{node.attr}" if base else ""
        return ""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer, self.func = self.func, node.name
        self.generic_visit(node)
        self.func = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        called = self.name(node.func)
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        if called in UNSAFE_CALLS:
            self.problems.append((node.lineno, f"{called}(...) runs code from the data it loads"))
        elif called == "torch.load":
            self._torch_load(node, kwargs.get("weights_only"))
        elif called == "numpy.load" and "allow_pickle" in kwargs:
            value = kwargs["allow_pickle"]
            if not (isinstance(value, ast.Constant) and value.value is False):
                self.problems.append((node.lineno, "numpy.load(allow_pickle=...) may unpickle objects"))
        elif called in ("yaml.load", "yaml.load_all"):
            loader = kwargs.get("Loader", node.args[1] if len(node.args) > 1 else None)
            if loader is None or self.name(loader) not in self.safe_loaders:
                self.problems.append((node.lineno, f"{called} without a SafeLoader"))
        self.generic_visit(node)

    def _torch_load(self, node: ast.Call, value: ast.expr | None) -> None:
        if isinstance(value, ast.Constant) and value.value is True:
            return
        if value is not None and (self.rel, self.func, ast.unparse(value)) in TRUSTED_OPT_IN:
            return
        shown = "missing" if value is None else ast.unparse(value)
        self.problems.append((node.lineno, f"torch.load with weights_only={shown} (must be True)"))


def _scan(path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    scan = _Scan(rel, tree)
    scan.visit(tree)
    return [f"legokit/{rel}:{line}: {problem}" for line, problem in scan.problems]


def test_no_module_loads_data_unsafely() -> None:
    problems = [p for path in sorted(PACKAGE.rglob("*.py")) for p in _scan(path)]
    assert not problems, "unsafe loading:\n" + "\n".join(problems)


def test_the_scan_finds_every_kind_of_unsafe_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanner itself: each unsafe form is reported with its line, the safe forms are not."""
    bad = ["import torch", "import pickle as pk", "from numpy import load", "import yaml", "import joblib",
           "torch.load('a')", "torch.load('a', weights_only=False)", "pk.loads(b'')", "load('a', allow_pickle=True)",
           "yaml.load('a')", "yaml.load('a', Loader=yaml.Loader)", "yaml.unsafe_load('a')", "joblib.load('a')",
           "eval('1')", "exec('1')", "import marshal", "marshal.loads(b'')", "import shelve", "shelve.open('a')",
           "torch.load('a', weights_only=not trusted)",
           "torch.load('a', weights_only=True)", "load('a')", "yaml.load('a', Loader=yaml.SafeLoader)",
           "yaml.safe_load('a')", "model.eval()"]
    (tmp_path / "legokit").mkdir()
    (tmp_path / "legokit" / "mod.py").write_text("\n".join(bad) + "\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "legokit")
    lines = [int(p.split(":")[1]) for p in _scan(tmp_path / "legokit" / "mod.py")]
    assert lines == [*range(6, 16), 17, 19, 20]


def test_no_call_in_the_package_opts_into_trusted_loading() -> None:
    """fairseq's trusted=True opt-in is only ever passed through from the caller, never switched on."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for kw in getattr(node, "keywords", []) if isinstance(node, ast.Call) else []:
                if kw.arg == "trusted":
                    assert isinstance(kw.value, ast.Name) and kw.value.id == "trusted", \
                        f"{path}:{node.lineno}: passes trusted={ast.unparse(kw.value)}"


# --- (b) every loader refuses a malicious file, and the code never runs ------------------------------
@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    """The file a loaded Evil would create; the test fails if it exists at the end."""
    path = tmp_path / "MARKER"
    yield path
    assert not path.exists(), "loading the malicious file ran its code"


def _evil_file(path: Path, marker: Path, **fields: object) -> Path:
    """A torch file whose unpickling would run `touch MARKER` (with otherwise plausible fields)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**fields, "payload": Evil(marker)}, path)
    return path


def _cli_error(capfd: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `legokit ARGV` in-process; assert exit status 2 and one stderr line; return it."""
    capfd.readouterr()
    assert main(["--log-level", "ERROR", *argv]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _plain_tts_dump(out: Path) -> Path:
    """A valid (tiny) TTS dump dir, written as plain data by hand."""
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"ids": ["u1"], "phones": [["a", "b"]], "mels": [torch.zeros(4, 80).half()], "lang": "en",
                "mel": {}}, out / "dump.pt")
    return out


def test_tts_synthesize_refuses_a_model_with_pickled_code(tmp_path: Path, marker: Path,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    model = _evil_file(tmp_path / "model.pt", marker, config={}, state_dict={})
    (tmp_path / "text").write_text("u1 hello\n")
    err = _cli_error(capfd, "tts", "synthesize", "--model", str(model), "--text", str(tmp_path / "text"),
                     "--out-dir", str(tmp_path / "syn"))
    assert f"{model}: not a readable TTS model (UnpicklingError: holds a pickled Python object posix.system" in err


def test_tts_train_refuses_a_dump_with_pickled_code(tmp_path: Path, marker: Path,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    dump = _evil_file(tmp_path / "dump" / "dump.pt", marker, ids=[])
    err = _cli_error(capfd, "tts", "train", "--out-dir", str(tmp_path / "exp"), f"data.train={dump.parent}")
    assert f"{dump}: not a readable TTS dump (UnpicklingError" in err


def test_tts_train_refuses_an_init_model_with_pickled_code(tmp_path: Path, marker: Path,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    dump = _plain_tts_dump(tmp_path / "dump")
    init = _evil_file(tmp_path / "src" / "model.pt", marker)
    err = _cli_error(capfd, "tts", "train", "--out-dir", str(tmp_path / "exp"), f"data.train={dump}",
                     f"init={init}")
    assert f"{init}: not a readable TTS model (UnpicklingError" in err


def test_brick_info_refuses_a_brick_with_pickled_code(tmp_path: Path, marker: Path,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    brick = _evil_file(tmp_path / "encoder.brick", marker, format="legokit-brick/1")
    err = _cli_error(capfd, "brick", "info", str(brick))
    assert f"{brick}: not a readable legokit brick/model file (UnpicklingError" in err


def test_decode_refuses_a_model_file_with_pickled_code(tmp_path: Path, marker: Path, mt_dir: Path,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    model = _evil_file(tmp_path / "model.pt", marker, format="legokit-model/1", bricks=[])
    err = _cli_error(capfd, "decode", "--model", str(model), "--data-dir", str(mt_dir), "--out",
                     str(tmp_path / "hyp"))
    assert f"{model}: not a readable legokit brick/model file (UnpicklingError" in err
    assert not (tmp_path / "hyp").exists()


def test_train_refuses_an_init_model_with_pickled_code(tmp_path: Path, marker: Path, toy_tokenizers: Path,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    model = _evil_file(tmp_path / "model.pt", marker, format="legokit-model/1")
    err = _cli_error(capfd, "train", "--out-dir", str(tmp_path / "exp"), *tiny_overrides(toy_tokenizers),
                     f"model.init_model={model}")
    assert f"{model}: not a readable legokit brick/model file (UnpicklingError" in err


def _signed_checkpoint(path: Path, payload: bytes) -> Path:
    """A checkpoint file whose header digest is right for `payload` (so only unpickling can refuse it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    return path


def _evil_payload(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save({"model": {}, "optimizer": Evil(marker)}, buffer)
    return buffer.getvalue()


def test_train_resume_refuses_a_checkpoint_with_pickled_code(tmp_path: Path, marker: Path, toy_tokenizers: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    overrides = tiny_overrides(toy_tokenizers)
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "config.yaml").write_text(dump_yaml(load_config(ExperimentConfig, None, overrides)))
    ckpt = _signed_checkpoint(tmp_path / "exp" / "checkpoints" / "checkpoint_last.pt", _evil_payload(marker))
    err = _cli_error(capfd, "train", "--out-dir", str(tmp_path / "exp"), *overrides)
    assert f"{ckpt}: checkpoint payload cannot be loaded safely (UnpicklingError)" in err


def test_average_refuses_a_checkpoint_with_pickled_code(tmp_path: Path, marker: Path,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    ckpt = _signed_checkpoint(tmp_path / "exp" / "checkpoints" / "ckpt-1.pt", _evil_payload(marker))
    err = _cli_error(capfd, "average", "--exp-dir", str(tmp_path / "exp"), "--num", "1", "--last",
                     "-o", str(tmp_path / "avg.pt"))
    assert f"{ckpt}: checkpoint payload cannot be loaded safely" in err
    assert not (tmp_path / "avg.pt").exists()


def test_cmvn_npz_with_pickled_objects_is_refused(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "cmvn.npz"
    np.savez(path, count=np.array([Evil(marker)], dtype=object), sum=np.zeros(2), sumsq=np.zeros(2))
    with pytest.raises(LegokitError, match=f"{path}: not a CMVN stats file") as err:
        CMVNStats.load(path)
    assert "\n" not in str(err.value)


def test_fairseq_import_without_trusted_refuses_pickled_code(tmp_path: Path, marker: Path) -> None:
    path = _evil_file(tmp_path / "checkpoint_best.pt", marker, model={})
    with pytest.raises(LegokitError, match=f"{path}: cannot be read as plain data \\(UnpicklingError\\)") as err:
        read_checkpoint(path)
    assert "\n" not in str(err.value)

"""Device-agnostic code: a static scan of the package for what would pin work to one device.

No GPU exists where the tests run, so the GPU paths are kept right by construction: nothing in legokit/
calls ``.cuda()`` or hard-codes the CPU (``device="cpu"``, ``torch.device("cpu")``, ``map_location="cpu"``,
``.to("cpu")``), and in the compute paths (decoding, bricks, layers, losses) no tensor factory runs without
``device=`` and no ``.cpu()`` runs inside a loop. Defaults of parameters and config fields are not calls and
are not flagged (the caller or the config chooses the device). Each exception is listed below with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "legokit"
#: where tensor factories must say their device and ``.cpu()`` may not run in a loop
COMPUTE = ("decode", "lego", "nn", "losses.py", "workflows")
FACTORIES = {"zeros", "ones", "full", "arange", "empty", "tensor", "randn", "rand"}
#: calls whose tensor arguments are module state, moved with ``module.to(device)``
MODULE_STATE = {"register_buffer", "Parameter"}

#: (file relative to legokit/, enclosing function or "<module>") -> why the hit there is right
ALLOWED = {
    # Loaders: a file is read to CPU memory, then the caller moves what it needs to its device (loading
    # straight to a GPU would pin a checkpoint to the device it was saved from).
    ("fileio.py", "load_plain"): "loader: map_location cpu, then moved",
    ("train/checkpoint.py", "_unpickle"): "loader: map_location cpu, then moved",
    ("interop/fairseq.py", "read_checkpoint"): "loader: map_location cpu, then moved",
    # Device resolution itself: "cpu"/"auto" without CUDA resolve to the CPU.
    ("train/trainer.py", "resolve_device"): "the CPU is what device=cpu / auto without CUDA means",
    # Decoding inputs are built by the DataLoader on the CPU (its workers cannot reach a GPU); each collated
    # batch is moved to the device once, with non_blocking=True (legokit/workflows/decode.py decode_dir).
    ("workflows/decode.py", "__getitem__"): "loader side: batches are moved to the device once",
    ("workflows/decode.py", "_dataset"): "loader side: batches are moved to the device once",
    ("workflows/inference.py", "translate"): "loader side: items are collated on the CPU, moved once per batch",
    # ONNX export traces the encoder with example inputs on the CPU, where onnxruntime runs it.
    ("lego/onnx.py", "example_inputs"): "ONNX export traces on the CPU",
    # The brick file format: bit masks and int8 kernels are built on state dicts that bricks save and load
    # on the CPU (torch's dynamic int8 Linear has CPU kernels only); a loaded brick is moved afterwards.
    ("lego/codec.py", "<module>"): "brick format constant, applied to CPU state dicts",
    ("nn/quantize.py", "int8_linear"): "int8 dynamic quantisation runs on the CPU only",
    ("lego/codec.py", "encode_state"): "serialising a brick: its state goes to the CPU",
    ("lego/bricks.py", "brick_payload"): "serialising a brick: its state goes to the CPU",
    ("workflows/compress.py", "qat_finetune"): "QAT trains on the CPU, where the int8 kernels it converts to run",
    ("lego/bricks.py", "_checksum"): "checksum of a brick's bytes: read on the CPU",
}


def _is_cpu(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value == "cpu"


def _name(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


class _Scan(ast.NodeVisitor):
    """Collects (line, enclosing function, problem) of one file."""

    def __init__(self, compute: bool) -> None:
        self.compute, self.hits = compute, []
        self.scope: list[str] = ["<module>"]
        self.loops = 0
        self.state_args = 0  # inside register_buffer(...) / nn.Parameter(...)

    def _hit(self, node: ast.AST, problem: str) -> None:
        self.hits.append((node.lineno, self.scope[-1], problem))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.scope.append(node.name)
        loops, self.loops = self.loops, 0
        self.generic_visit(node)
        self.scope.pop()
        self.loops = loops

    visit_AsyncFunctionDef = visit_FunctionDef

    def _loop(self, node: ast.AST) -> None:
        self.loops += 1
        self.generic_visit(node)
        self.loops -= 1

    visit_For = visit_While = visit_ListComp = visit_DictComp = visit_SetComp = visit_GeneratorExp = _loop

    def visit_Call(self, node: ast.Call) -> None:
        name, func = _name(node.func), node.func
        keywords = {k.arg: k.value for k in node.keywords}
        if name == "cuda" and isinstance(func, ast.Attribute):
            self._hit(node, ".cuda() call")
        if _is_cpu(keywords.get("device")) or _is_cpu(keywords.get("map_location")):
            self._hit(node, 'device/map_location="cpu"')
        if name in ("device", "to") and node.args and _is_cpu(node.args[0]):
            self._hit(node, f'{name}("cpu")')
        if self.compute:
            module = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "torch"
            if module and name in FACTORIES and "device" not in keywords and not self.state_args:
                self._hit(node, f"torch.{name}(...) without device=")
            if name == "cpu" and self.loops:
                self._hit(node, ".cpu() inside a loop")
        state = name in MODULE_STATE
        self.state_args += state
        self.generic_visit(node)
        self.state_args -= state


def _moved_at_once(tree: ast.AST) -> set[int]:
    """Lines of factory calls whose result is immediately ``.to(...)`` (e.g. ``torch.zeros(3).to(x.device)``)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) == "to" and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Call) and _name(node.func.value.func) in FACTORIES:
            lines.add(node.func.value.lineno)
    return lines


def scan(path: Path) -> list[tuple[int, str, str]]:
    """Device problems of one source file: (line, enclosing function, what)."""
    relative = path.relative_to(PACKAGE)
    compute = relative.parts[0] in COMPUTE
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    visitor = _Scan(compute)
    visitor.visit(tree)
    moved = _moved_at_once(tree)
    return [(line, scope, what) for line, scope, what in visitor.hits
            if (relative.as_posix(), scope) not in ALLOWED and not (what.startswith("torch.") and line in moved)]


def _files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_device_pinned(path: Path) -> None:
    hits = scan(path)
    assert not hits, "\n".join(f"legokit/{path.relative_to(PACKAGE).as_posix()}:{line} in {scope}: {what}"
                               for line, scope, what in hits)


def test_allow_list_is_current() -> None:
    """Every allowed (file, function) still holds a hit, so the list cannot silently outlive the code."""
    stale = []
    for relative, scope in ALLOWED:
        path = PACKAGE / relative
        tree = ast.parse(path.read_text(encoding="utf-8"))
        visitor = _Scan(Path(relative).parts[0] in COMPUTE)
        visitor.visit(tree)
        if not any(hit_scope == scope for _, hit_scope, _ in visitor.hits):
            stale.append(f"{relative}:{scope}")
    assert not stale, f"allow-list entries with nothing to allow: {stale}"


@pytest.mark.parametrize(("source", "expected"), [
    ("x.cuda()", ".cuda() call"),
    ("torch.load(p, map_location='cpu')", 'device/map_location="cpu"'),
    ("torch.ones(3, device='cpu')", 'device/map_location="cpu"'),
    ("torch.device('cpu')", 'device("cpu")'),
    ("x.to('cpu')", 'to("cpu")'),
    ("torch.zeros(3)", "torch.zeros(...) without device="),
    ("for t in xs:\n    t.cpu()", ".cpu() inside a loop"),
])
def test_scan_catches(source: str, expected: str) -> None:
    visitor = _Scan(compute=True)
    visitor.visit(ast.parse(source))
    assert [what for _, _, what in visitor.hits] == [expected]


@pytest.mark.parametrize("source", [
    "torch.zeros(3, device=x.device)", "torch.zeros_like(x)", "x.new_zeros(3)", "torch.zeros(3).to(x.device)",
    "self.register_buffer('b', torch.ones(3))", "nn.Parameter(torch.randn(3, 4) * 0.1)",
    "def f(device: str = 'cpu'): pass", "x.cpu()",
])
def test_scan_allows(source: str) -> None:
    tree = ast.parse(source)
    visitor = _Scan(compute=True)
    visitor.visit(tree)
    assert [line for line, _, _ in visitor.hits if line not in _moved_at_once(tree)] == []

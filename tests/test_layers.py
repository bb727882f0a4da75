"""The package's import graph (module-level and function-level imports, read with ast) has no cycle, and every
module imports only from its own layer or the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "legokit"

#: layers from the bottom up; a top-level module or package of legokit/ belongs to exactly one
LAYERS: list[tuple[str, set[str]]] = [
    # the shared ground: errors, files, progress, configs, locks, provenance, recipe helpers (and __version__)
    ("ground", {"legokit", "errors", "fileio", "progress", "config", "lock", "provenance", "recipe"}),
    # the library's parts. corpora/ acquires and normalises data (text normalisation and espeak-ng are shared by
    # score/ and tts/), so it sits with data/; score/ computes metrics and tables over text files and
    # needs nothing from the models; lm/ is the word n-gram LM that decode/'s CTC search fuses
    ("library", {"data", "nn", "losses", "train", "decode", "score", "corpora", "lm"}),
    # models: LegoNN bricks and the TTS system; interop/ adapts foreign checkpoints (fairseq) to nn/ modules
    # and our losses to fairseq: an adapter over the library that nothing below may depend on
    ("models", {"lego", "tts", "interop"}),
    # what a command runs: train/decode/compress workflows; cluster/ runs those commands as jobs on a cluster
    # (it imports only the ground, but no library code may submit jobs)
    ("workflows", {"workflows", "cluster"}),
    ("commands", {"commands", "cli"}),
]
LAYER = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}


def _modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its file (top level or inside functions)."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                candidates = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for candidate in candidates:
                while candidate and candidate not in modules:  # `from legokit.x import name`: the module x
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name:
                    targets.add(candidate)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as [a, b, ..., a], or [] if there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def _part(module: str) -> str:
    """The top-level part of legokit a module belongs to: ``legokit.lego.bricks`` -> ``lego``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_part_of_the_package_has_a_layer() -> None:
    unplaced = sorted({_part(m) for m in _modules()} - LAYER.keys())
    assert not unplaced, f"legokit/{unplaced} is in no layer of LAYERS: place it (and say why)"


def test_the_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_layers_import_only_downwards() -> None:
    upward = sorted(f"{a} ({LAYERS[LAYER[_part(a)]][0]}) imports {b} ({LAYERS[LAYER[_part(b)]][0]})"
                    for a, targets in import_graph().items() for b in targets
                    if LAYER.get(_part(b), -1) > LAYER.get(_part(a), len(LAYERS)))
    assert not upward, "upward imports:\n" + "\n".join(upward)


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"a"}}, ["a", "a"]),
])
def test_find_cycle(graph: dict[str, set[str]], expected: list[str]) -> None:
    assert find_cycle(graph) == expected


def test_the_graph_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "legokit"
    (pkg / "lego").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "lego" / "__init__.py").write_text("")
    (pkg / "lego" / "bricks.py").write_text("def f():\n    from legokit.workflows import compress\n")
    (pkg / "lego" / "model.py").write_text("from .bricks import f\n")
    (pkg / "workflows").mkdir()
    (pkg / "workflows" / "__init__.py").write_text("")
    (pkg / "workflows" / "compress.py").write_text("from legokit.lego.model import f\n")
    graph = import_graph(pkg)
    assert graph["legokit.lego.bricks"] == {"legokit.workflows", "legokit.workflows.compress"}
    assert graph["legokit.lego.model"] == {"legokit.lego.bricks"}
    assert find_cycle(graph) == ["legokit.lego.bricks", "legokit.workflows.compress", "legokit.lego.model",
                                 "legokit.lego.bricks"]

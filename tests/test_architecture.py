"""The package's shape: its modules import one another without a cycle, no source file outgrows 400 lines, and
`poet models` (a listing of what is on disk) starts without torch.

Imports are read with `ast` from every module, wherever they stand: at the top, inside a function (lazy) or under
`if TYPE_CHECKING:` (type-only) all count."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "torch_poet"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path) -> set[str]:
    """The modules of the package that module `name` imports. `import a.b` and `from a.b import x` name a.b
    (a package's __init__ when a.b is a package), `from a import b` names a.b when that is a module or package
    of its own, else a; relative imports are resolved from the module's own package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source)
    return {m for m in found if m in MODULES and m != name}


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(name, path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> ... -> a) through each strongly connected group of two or more modules (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set(stack[stack.index(v) :])
            del stack[stack.index(v) :]
            on_stack.difference_update(group)
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [shortest_cycle(graph, group) for group in groups]


def shortest_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle in {group}")  # a strongly connected group always has one


def test_the_import_reader_resolves_relative_and_submodule_imports():
    """The reader itself, on the package as it is: a submodule's `from . import x` is the sibling x, not the
    package's __init__; lazy imports inside functions and TYPE_CHECKING imports count."""
    graph = import_graph()
    assert "torch_poet.train.distributed" in graph["torch_poet.train.loop"]  # `from . import distributed, resume`
    assert "torch_poet.train" not in graph["torch_poet.train.loop"]
    assert "torch_poet.disk.snapshots" in graph["torch_poet.train.loop"]  # `from ..disk import ..., snapshots`
    assert "torch_poet.gutenberg" in graph["torch_poet.library.sources"]  # `from .. import gutenberg` in a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


SOURCES = sorted(p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".js", ".css", ".html"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_source_file_over_400_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines (at most {MAX_LINES}): split it"


def test_poet_models_imports_no_torch(tmp_path):
    """In a fresh interpreter, `poet models --json` on an empty POET_HOME lists nothing and never loads torch."""
    home, report = tmp_path / "empty-home", tmp_path / "modules.json"
    home.mkdir()
    code = (
        "import json, sys; from pathlib import Path; from torch_poet.cli import main; rc = main(['models', '--json']); "
        "Path(sys.argv[1]).write_text(json.dumps({'rc': rc, 'modules': sorted(sys.modules)}))"
    )
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])  # this checkout's code, whatever is installed
    env = {**os.environ, "POET_HOME": str(home), "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", code, report], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout == "", out.stdout + out.stderr  # ran, and listed no model (JSON lines)
    loaded = json.loads(report.read_text())
    assert loaded["rc"] in (0, None), out.stderr
    ours = [m for m in loaded["modules"] if m.startswith("torch_poet")]
    assert "torch" not in loaded["modules"], f"`poet models` imported torch; torch_poet modules loaded: {ours}"


def test_poet_highlight_imports_no_torch(serve_home, tmp_path):
    """Highlighting needs the library and its index, not the weights: `poet highlight` never loads torch, which
    is most of its start-up."""
    report = tmp_path / "modules.json"
    code = (
        "import json, sys; from pathlib import Path; from torch_poet.cli import main; "
        "rc = main(['highlight', '--project', 'test', '--model', 'tiny', '--json', '-']); "
        "Path(sys.argv[1]).write_text(json.dumps({'rc': rc, 'modules': sorted(sys.modules)}))"
    )
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "POET_HOME": str(serve_home), "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", code, report], input="It is a truth universally acknowledged, that a",
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert json.loads(out.stdout)["spans"][0]["quoted"], out.stderr  # it highlighted
    loaded = json.loads(report.read_text())
    assert "torch" not in loaded["modules"], [m for m in loaded["modules"] if m.startswith("torch_poet")]

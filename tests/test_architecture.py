"""The package's shape: no import cycles, modules import in any order, one list of families."""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "drugbayes"


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(SRC.rglob("*.py")):
        rel = p.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _resolve(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    if node.level:
        base = base[:len(base) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))
    return node.module or ""


def _walk_runtime(node: ast.AST):
    """Every node, except what sits under ``if TYPE_CHECKING:`` (never imported at run time)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if (isinstance(child, ast.If) and isinstance(child.test, ast.Name)
                and child.test.id == "TYPE_CHECKING"):
            continue
        yield from _walk_runtime(child)


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    """Module -> drugbayes modules it imports (at module level, or anywhere)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        tree = ast.parse(path.read_text())
        nodes = tree.body if top_level_only else list(_walk_runtime(tree))
        for node in nodes:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(m, path.name == "__init__.py", node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m and t.startswith("drugbayes"):
                    graph[m].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            # a package's __init__ importing its own submodules is assembly, not a cycle
            if w.startswith(v + "."):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    """Neither module-level nor deferred (in-function) imports form a cycle (imports for type
    checking only are not imports at run time)."""
    assert _cycles(_graph(top_level_only=True)) == []
    assert _cycles(_graph(top_level_only=False)) == []


def test_every_module_imports_in_any_order():
    """Every module imports in a fresh interpreter, in two random orders (fixed seeds)."""
    mods = sorted(m for m in _modules() if not m.endswith("__main__"))
    for seed in (0, 1):
        order = mods[:]
        random.Random(seed).shuffle(order)
        code = f"import importlib\nfor m in {order!r}:\n    importlib.import_module(m)\n"
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, f"order seed {seed}: {res.stderr[-2000:]}"
def test_family_names_live_in_the_registry_only():
    """api, config, cli and diagnostics name no family (the registry is the only list)."""
    names = ("dose_response", "xenograft", "combination")
    for mod in ("api.py", "cli.py", "diagnostics.py", "results.py", "outputs.py",
                "config/__init__.py", "config/schema.py", "config/loading.py",
                "config/presets.py", "config/toml.py"):
        path = SRC / mod
        if not path.exists():
            continue
        code = ast.unparse(ast.parse(path.read_text()))  # docstrings/comments aside
        tree = ast.parse(code)
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str) and n.value in names]
        assert strings == [], f"{mod} names families {strings}"

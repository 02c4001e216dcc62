"""The benchmarks' layout: every script runs as a module, no ``sys.path`` edits, and the tests
never import ``benchmarks/`` (what they share lives in ``drugbayes.testing``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"


def _scripts() -> list[str]:
    """Module names of the benchmark scripts (``benchmarks.<group>.<name>``)."""
    return sorted(".".join(p.relative_to(REPO).with_suffix("").parts)
                  for p in BENCHMARKS.glob("*/*.py")
                  if p.name != "__init__.py" and p.parent.name != "results")


def _trees(paths):
    for path in paths:
        yield path, ast.parse(path.read_text(), filename=str(path))


def test_tests_never_import_benchmarks():
    for path, tree in _trees(sorted((REPO / "tests").glob("*.py"))):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            bad = [n for n in names if n == "benchmarks" or n.startswith("benchmarks.")]
            assert not bad, f"{path.name}:{node.lineno} imports {bad}"


def test_no_sys_path_edits_in_tests_or_benchmarks():
    files = sorted([*BENCHMARKS.rglob("*.py"), *(REPO / "tests").glob("*.py")])
    for path, tree in _trees(files):
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr == "path"
                    and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                raise AssertionError(f"{path.relative_to(REPO)}:{node.lineno} uses sys.path")


def test_every_benchmark_runs_as_a_module():
    """``python -m benchmarks.<group>.<name> --help`` exits 0 for every script: it imports and
    parses its arguments (one interpreter for all of them)."""
    scripts = _scripts()
    assert len(scripts) >= 16, scripts
    code = ("import contextlib, io, runpy, sys\n"
            "for m in sys.argv[1:]:\n"
            "    sys.argv = [m, '--help']\n"
            "    out = io.StringIO()\n"
            "    try:\n"
            "        with contextlib.redirect_stdout(out):\n"
            "            runpy.run_module(m, run_name='__main__', alter_sys=True)\n"
            "    except SystemExit as e:\n"
            "        assert e.code in (0, None), (m, e.code)\n"
            "        assert 'usage:' in out.getvalue(), m\n"
            "    else:\n"
            "        raise AssertionError(f'{m} --help did not exit')\n")
    run = subprocess.run([sys.executable, "-c", code, *scripts], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]

"""The import graph of circles/: no cycle, and nothing but the CLI and batch imports the pipeline.

Every import is read with ``ast`` (top level and inside functions alike), so an import
placed inside a function to hide a cycle is caught: the graph here counts it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

import circles

PACKAGE = Path(circles.__file__).parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, modules: set[str], me: str | None = None) -> list[tuple[str, int, bool]]:
    """(imported circles module, line, inside a function) for every import in ``path`` (module ``me``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = me or _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    inside = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            inside.update(id(n) for n in ast.walk(fn) if n is not fn)
    out = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            # ``from circles import coverage``: the module imported is circles.coverage
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for name in names:
            while name and name not in modules:  # circles.io.units.x -> circles.io.units
                name = name.rpartition(".")[0]
            if name.startswith("circles") and name and name != me:
                out.append((name, node.lineno, id(node) in inside))
    return out


def _graph() -> tuple[nx.DiGraph, dict]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(f) for f in files}
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    where = {}
    for f in files:
        for target, line, lazy in _imports(f, modules):
            if target == "circles":  # the package itself (__version__): no edge into its modules
                continue
            g.add_edge(_module_name(f), target)
            where.setdefault((_module_name(f), target), []).append((line, lazy))
    return g, where


def test_the_parser_sees_imports_inside_functions(tmp_path):
    """The oracle: a hand-made module with a top-level, an in-function and a relative import of our own."""
    src = ("from circles import rules\nimport numpy\n\ndef f():\n    from circles.stages import load\n"
           "    from . import score\n    return load, score\n")
    p = tmp_path / "probe.py"
    p.write_text(src, encoding="utf-8")
    modules = {"circles", "circles.rules", "circles.stages", "circles.stages.load", "circles.stages.score",
               "circles.stages.probe"}
    assert sorted(_imports(p, modules, me="circles.stages.probe")) == [
        ("circles.rules", 1, False), ("circles.stages.load", 5, True), ("circles.stages.score", 6, True)]


def test_no_import_cycle():
    g, where = _graph()
    cycles = list(nx.simple_cycles(g))
    shown = [" -> ".join(c + [c[0]]) + f" (lines {[where[(c[i], c[(i + 1) % len(c)])] for i in range(len(c))]})"
             for c in cycles[:5]]
    assert not cycles, "import cycles in circles/:\n" + "\n".join(shown)


def test_only_cli_and_batch_import_the_pipeline():
    g, _ = _graph()
    assert "circles.pipeline" in g
    assert set(g.predecessors("circles.pipeline")) <= {"circles.cli", "circles.batch"}
    assert set(g.predecessors("circles.pipeline")) == {"circles.cli", "circles.batch"}


def test_report_side_reads_results_not_stages():
    """The report side depends on results/rules/display only, never on the pipeline or a stage."""
    g, _ = _graph()
    report_side = ["circles.summary", "circles.methods", "circles.equity", "circles.figures", "circles.panels",
                   "circles.report", "circles.export"]
    for m in report_side:
        reach = nx.descendants(g, m)
        assert "circles.pipeline" not in reach, m
        assert not {r for r in reach if r.startswith("circles.stages")}, m


def test_rules_is_a_leaf():
    g, _ = _graph()
    assert set(g.successors("circles.rules")) == set()


def test_the_command_line_starts_without_pandas_geopandas_or_branca():
    """``circles --help`` imports :mod:`circles.cli` only: none of the heavy libraries may load with it
    (the module's docstring: they are imported inside the commands that use them)."""
    code = ("import sys, circles.cli; "
            "print(' '.join(m for m in ('pandas', 'geopandas', 'branca', 'shapely', 'rasterio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import circles.cli loads {out}"

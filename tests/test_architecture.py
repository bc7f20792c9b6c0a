"""The layout keeps its rules: parsed imports may not break them (see ARCHITECTURE.md).

- no import cycle between packages, and no function-level import that hides a module cycle;
- no name starting with `_` imported across packages;
- no suite imports another suite; no renderer imports a suite; the core names no built-in suite;
- every statistic is in audit/stats (no suite defines a test or interval of its own);
- no source file over 400 lines, and every module starts with a docstring.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("audit", "suites", "reports")
SOURCE_DIRS = ("audit", "suites", "reports", "bench", "tests", "docs")
MAX_LINES = 400
# statistics that must come from audit/stats, never be re-implemented elsewhere
STAT_FUNCTIONS = {"holm", "benjamini_hochberg", "clopper_pearson", "wilson_interval", "spearman", "rankdata",
                  "mcnemar", "paired_bootstrap", "auc_with_ci", "delong", "bootstrap_estimate"}


@dataclass(frozen=True)
class Import:
    source: str       # importing module
    target: str       # imported module
    names: tuple[str, ...]
    top_level: bool   # at module level (else inside a function or class)
    line: int


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def package_of(module: str) -> str:
    """The unit the rules speak of: audit.<folder> (or a root module), suites.<suite>, reports."""
    parts = module.split(".")
    if parts[0] in ("audit", "suites") and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def source_files(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)


def parse_imports() -> tuple[set[str], list[Import]]:
    modules = {module_name(p) for p in source_files(*PROJECT_PACKAGES)}
    found = []
    for path in source_files(*PROJECT_PACKAGES):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        top |= {id(n) for node in tree.body if isinstance(node, (ast.If, ast.Try)) for n in ast.walk(node)}
        source = module_name(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] not in PROJECT_PACKAGES:
                    continue
                names = tuple(a.name for a in node.names)
                submodules = [f"{node.module}.{n}" for n in names if f"{node.module}.{n}" in modules]
                if submodules and len(submodules) == len(names):   # `from pkg import submodule`
                    found += [Import(source, m, (), id(node) in top, node.lineno) for m in submodules]
                else:
                    found.append(Import(source, node.module, names, id(node) in top, node.lineno))
            elif isinstance(node, ast.Import):
                found += [Import(source, a.name, (), id(node) in top, node.lineno) for a in node.names
                          if a.name.split(".")[0] in PROJECT_PACKAGES]
    return modules, found


MODULES, IMPORTS = parse_imports()


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components with more than one node are the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return cycles


def test_no_import_cycle_between_packages():
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        a, b = package_of(imp.source), package_of(imp.target)
        if a != b:
            edges[a].add(b)
    assert strongly_connected(edges) == []


def test_no_function_level_import_hides_a_module_cycle():
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        if imp.target in MODULES and imp.target != imp.source:
            edges[imp.source].add(imp.target)
    assert strongly_connected(edges) == []


def test_no_private_name_imported_across_packages():
    bad = [f"{i.source}:{i.line} imports {n} from {i.target}" for i in IMPORTS for n in i.names
           if n.startswith("_") and package_of(i.source) != package_of(i.target)]
    assert bad == []


def test_no_suite_imports_another_suite():
    bad = [f"{i.source}:{i.line} -> {i.target}" for i in IMPORTS
           if i.source.startswith("suites.") and i.target.startswith("suites.")
           and package_of(i.source) != package_of(i.target)]
    assert bad == []


def test_renderers_import_no_suite():
    assert [f"{i.source}:{i.line} -> {i.target}" for i in IMPORTS
            if i.source.startswith("reports") and i.target.startswith("suites")] == []


def test_core_names_no_builtin_suite():
    suites = sorted(p.name for p in (ROOT / "suites").iterdir() if (p / "__init__.py").is_file())
    bad = [f"{i.source}:{i.line} -> {i.target}" for i in IMPORTS
           if i.source.startswith("audit") and i.target.startswith("suites")]
    for path in source_files("audit"):
        text = path.read_text(encoding="utf-8")
        bad += [f"{module_name(path)} names suites.{s}" for s in suites if f"suites.{s}" in text]
    assert bad == []


def test_statistics_live_in_audit_stats():
    bad = []
    for path in source_files("audit", "suites", "reports"):
        if path.is_relative_to(ROOT / "audit" / "stats"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in STAT_FUNCTIONS:
                bad.append(f"{module_name(path)}:{node.lineno} defines {node.name}")
    assert bad == []


@pytest.mark.parametrize("folder", SOURCE_DIRS)
def test_no_file_over_the_line_limit(folder):
    long = {module_name(p): n for p in source_files(folder)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize("folder", SOURCE_DIRS)
def test_every_module_says_what_it_is_for(folder):
    missing = [module_name(p) for p in source_files(folder)
               if ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None]
    assert missing == []


def test_the_checker_sees_a_planted_violation():
    """The rules can fail: a suite importing another suite and a two-module cycle are both caught."""
    assert strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []
    assert package_of("suites.bias.templates") != package_of("suites.accuracy.suite")
    assert package_of("audit.models.adapters.hf") == package_of("audit.models.resolve")

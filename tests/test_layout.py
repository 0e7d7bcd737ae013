"""The package's folders are its processes: who may import whom (docs/architecture.md), read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pysupervise"
MASTER_SIDE = ("supervisor", "proxy", "admin", "logs", "debugger", "config")

# folder → the packages of ours its modules must never import (type-only imports included, unless noted)
FORBIDDEN = {
    "worker": MASTER_SIDE,  # a worker process loads only its runtime and the user's app
    "admin": ("supervisor", "proxy", "bus", "worker"),  # the supervisor's views are passed in
    "logs": ("supervisor", "proxy", "admin", "debugger", "bus", "worker"),
    "proxy": ("supervisor", "admin", "logs", "debugger", "bus", "worker"),
    "config": ("supervisor", "proxy", "admin", "logs", "debugger", "bus", "worker"),
    "bus": ("supervisor", "proxy", "admin", "logs", "debugger", "worker"),
}
# The debugger names the supervisor's types in hints, but what it needs of it is passed in.
FORBIDDEN_AT_RUNTIME = {"debugger": ("supervisor", "admin", "proxy")}
MAX_MODULES_FLAT = 16
MAX_MODULE_LINES = 400


def imported_parts(path: Path, runtime_only: bool) -> set[str]:
    """The first component under `pysupervise.` of every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(child) for child in ast.walk(node))
    parts = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            bits = name.split(".")
            if bits[0] == "pysupervise" and len(bits) > 1:
                parts.add(bits[1])
    return parts


def modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_folder_imports_nothing_above_it(folder):
    wrong = {f"{path.relative_to(PACKAGE)} imports pysupervise.{part}"
             for path in modules(folder) for part in imported_parts(path, False) & set(FORBIDDEN[folder])}
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize("folder", sorted(FORBIDDEN_AT_RUNTIME))
def test_debugger_is_handed_what_it_needs_of_the_supervisor(folder):
    wrong = {f"{path.relative_to(PACKAGE)} imports pysupervise.{part}"
             for path in modules(folder) for part in imported_parts(path, True) & set(FORBIDDEN_AT_RUNTIME[folder])}
    assert not wrong, sorted(wrong)


def test_the_rules_above_see_imports():
    # The check itself must find a real import, or every rule above would pass on anything.
    assert "config" in imported_parts(PACKAGE / "logs" / "app_logs.py", False)
    assert "supervisor" in imported_parts(PACKAGE / "debugger" / "control.py", False)
    assert "supervisor" not in imported_parts(PACKAGE / "debugger" / "control.py", True)


def test_no_folder_is_a_heap_and_no_module_is_a_book():
    folders = [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__")]
    heaps = {str(f.relative_to(PACKAGE)): n for f in folders
             if (n := len([m for m in f.glob("*.py") if not m.name.startswith("__")])) > MAX_MODULES_FLAT}
    books = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
             if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not heaps and not books, (heaps, books)

"""The house's layout, checked: import contracts, module sizes, and the two packages kept apart.

The contracts themselves (which layer may import which) are in ``pyproject.toml`` under
``[tool.importlinter]``; CONTRIBUTING.md draws the same map for people.
"""
from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("course_lib", "course_grader")
MAX_LINES = 520  # "no module over about 500 lines"


def _modules():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_import_contracts_hold():
    from importlinter.cli import lint_imports

    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert status == 0, "an import contract in pyproject.toml is broken; `lint-imports` prints which import"


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_too_long(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it by idea (at most {MAX_LINES})"


def test_the_learners_package_never_loads_the_grader():
    # import-linter sees import statements; this also catches importlib.import_module("course_grader...").
    pattern = re.compile(r"(^\s*(from|import)\s+course_grader)|import_module\(\s*[\'\"]course_grader", re.MULTILINE)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "course_lib").rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(PACKAGES)):
                offenders += [f"{path.relative_to(ROOT)}: {alias.name}" for alias in node.names
                              if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert offenders == [], "make these names public or keep them in their module: " + ", ".join(offenders)

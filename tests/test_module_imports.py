"""errors.py, middleware.py and jsonbody.py do not import each other in a circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import meetbook

PACKAGE = Path(meetbook.__file__).parent
MODULES = ("errors", "middleware", "jsonbody", "headers")


def _meetbook_imports(name: str) -> set[str]:
    """The meetbook modules `name` imports anywhere, function bodies included."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m.removeprefix("meetbook.") for m in found if m.startswith("meetbook.")}


def test_no_cycle_between_errors_middleware_and_jsonbody() -> None:
    graph = {name: _meetbook_imports(name) & set(MODULES) for name in MODULES}
    # errors.py is the bottom: it imports none of the others but the leaf headers.py.
    assert graph["errors"] <= {"headers"}
    assert graph["headers"] == set()

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
            for nxt in graph[start]
        )

    assert [name for name in MODULES if reaches(name, name)] == []


@pytest.mark.parametrize("name", MODULES)
def test_each_module_imports_first_in_a_fresh_interpreter(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import meetbook.{name}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr

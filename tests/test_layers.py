"""Imports run downward only (DESIGN.md, ADR 0001): each package may import the
packages below it and nothing above. Imports under `if TYPE_CHECKING:` are exempt."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stageline"

#: Each package with the packages it may import (besides itself).
ALLOWED: dict[str, set[str]] = {}
LAYERS = [
    ["errors"],
    ["durations", "expressions"],
    ["workflow"],
    ["plan"],
    ["runs"],
    ["runner"],
    ["executors", "store", "notify", "worker"],  # worker: ADR 0012
    ["engine"],
    ["deploy"],
    ["app"],  # the operations users perform: the CLI, the demo and the server call them
    ["server"],
    ["cli"],  # `stageline serve` starts the server (ADR 0011)
]
for depth, layer in enumerate(LAYERS):
    below = {name for lower in LAYERS[:depth] for name in lower}
    for name in layer:
        ALLOWED[name] = below


def _runtime_imports(tree: ast.Module) -> set[str]:
    """The stageline packages a module imports outside `if TYPE_CHECKING:` blocks."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            names = []
        found.update(n.split(".")[1] for n in names if n.startswith("stageline."))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _package(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


MODULES = sorted(p for p in SRC.rglob("*.py") if _package(p) in ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_run_downward(path: Path) -> None:
    package = _package(path)
    imported = _runtime_imports(ast.parse(path.read_text())) - {package}
    upward = imported - ALLOWED[package]
    assert not upward, f"{package} must not import {sorted(upward)}"


def test_every_package_has_a_layer() -> None:
    packages = {_package(p) for p in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert packages <= set(ALLOWED), sorted(packages - set(ALLOWED))


def test_the_workflow_language_loads_without_the_database_or_the_server() -> None:
    code = (
        "import sys, json, stageline.workflow, stageline.expressions, stageline.plan.model\n"
        "print(json.dumps(sorted(m for m in ('sqlalchemy', 'fastapi', 'rich', 'httpx')"
        " if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_a_worker_loads_neither_the_engine_nor_the_store() -> None:
    """ADR 0012: `stageline worker` and everything a job on a worker runs (the runner)
    import no engine and no store; tests/worker/test_worker.py checks a running worker."""
    code = (
        "import sys, json\n"
        "from stageline.cli.app import app\n"
        "import stageline.worker.service, stageline.worker.remote, stageline.runner.job\n"
        "print(json.dumps(sorted(m for m in sys.modules"
        " if m.startswith(('stageline.engine', 'stageline.store')))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []

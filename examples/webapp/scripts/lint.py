"""A small style check using only the standard library (the demo runs where no linter
is installed): line length, whitespace, and debugging leftovers.

Usage: python3 scripts/lint.py [PATH...]   (default: the project's Python files)
Prints `path:line: message` per finding and exits 1 if there is any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_LINE = 100
DEBUG_CALLS = {"breakpoint", "set_trace"}


def python_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        else:
            yield path


def check_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE:
            yield number, f"line longer than {MAX_LINE} characters ({len(line)})"
        if line != line.rstrip():
            yield number, "trailing whitespace"
        if "\t" in line[: len(line) - len(line.lstrip())]:
            yield number, "tab in indentation"
    if text and not text.endswith("\n"):
        yield len(text.splitlines()), "no newline at end of file"


def check_tree(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is None:
            yield node.lineno, "bare `except:` (name the exception)"
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in DEBUG_CALLS:
                yield node.lineno, f"debugger call `{name}()` left in"


def check(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    findings = list(check_lines(text))
    try:
        findings += check_tree(ast.parse(text, filename=str(path)))
    except SyntaxError as err:
        findings.append((err.lineno or 1, f"syntax error: {err.msg}"))
    return [f"{path}:{line}: {message}" for line, message in sorted(findings)]


def main(argv: list[str]) -> int:
    roots = [Path(arg) for arg in argv] or [Path("webapp"), Path("tests"), Path("scripts")]
    files = list(python_files(roots))
    problems = [finding for path in files for finding in check(path)]
    for problem in problems:
        print(problem)
    print(f"lint: {len(files)} files, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

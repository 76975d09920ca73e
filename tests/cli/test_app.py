"""`stageline run`'s and `validate`'s own argument parsing agrees with Typer's, or hands
over to Typer; and what a plain run or validate loads."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import typer.main

from stageline.cli import fastargs, run, validate
from stageline.cli.app import app

AGREED = [
    [],
    ["ci.yml"],
    ["--json"],
    ["ci.yml", "--json", "--keep-workspaces"],
    ["-j", "a", "--job", "b", "--job=c"],
    ["--event", "pull_request", "--ref", "refs/heads/x", "--actor=me"],
    ["--event", "workflow_dispatch", "--input", "k=v", "--input", "n=1=2"],
    ["-e", "payload.json", "-s", "S=1", "-W", "flows", "-l", "-n", "-g"],
    ["-W", ".", "--list", "--dryrun", "--graph", "--matrix", "a:1", "--matrix", "a:2"],
    ["--var", "a=1", "--env", "B=2", "--secret", "S=3", "--matrix", "os:linux"],
    ["--eventpath", "payload.json", "--env-file", "x.env", "--secret-file=s.env"],
    ["--parallel", "8"],
    ["-p", "1", "w.yml"],
    ["--parallel=3", "--event", "push", "--event", "release"],
    ["--ref", ""],
]

HANDED_OVER = [
    ["--help"],
    ["-h"],
    ["--parallel", "0"],
    ["--parallel", "x"],
    ["-p", "-1"],
    ["--job"],
    ["--job", "--json"],
    ["--json=yes"],
    ["--no-json"],
    ["a.yml", "b.yml"],
    ["--unknown", "x"],
    ["-jx"],
    ["-j=x"],
    ["--", "ci.yml"],
    ["--eventpath", "."],
    ["--eventpath", ""],
]


VALIDATE_AGREED = [[], ["a.yml"], ["a.yml", "dir", "b.yaml"]]
VALIDATE_HANDED_OVER = [["--help"], ["-x"], ["a.yml", "--", "b"], [""]]


def typer_params(name: str, args: list[str]) -> dict[str, object]:
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    with command.make_context(name, list(args)) as ctx:
        return dict(ctx.params)


def declared(function: Any) -> fastargs.Command:
    """A command's parameters as its Typer annotations declare them."""
    options: dict[str, fastargs.Param] = {}
    argument = None
    for name, hint in typing.get_type_hints(function, include_extras=True).items():
        if name == "return":
            continue
        kind, info = typing.get_args(hint)[:2]
        kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
        many = typing.get_origin(kind) is list
        kind = typing.get_args(kind)[0] if many else kind
        param = fastargs.Param(name, kind, many, info.min, info.dir_okay)
        assert not info.exists and info.max is None  # checks the table cannot express
        if isinstance(info, typer.models.ArgumentInfo):
            argument = param
            continue
        first = info.default if isinstance(info.default, str) else None
        flags = [d for d in (first, *info.param_decls) if d and d.startswith("-")]
        for flag in flags or [f"--{name.replace('_', '-')}"]:
            options[flag] = param
    return fastargs.Command(options, argument)


def test_the_tables_are_the_typer_declarations() -> None:
    assert declared(run.run) == fastargs.RUN
    assert declared(validate.validate) == fastargs.VALIDATE


@pytest.mark.parametrize("args", AGREED, ids=" ".join)
def test_plain_command_lines_parse_as_typer_parses_them(args: list[str]) -> None:
    assert fastargs.parse(fastargs.RUN, args) == typer_params("run", args)


@pytest.mark.parametrize("args", HANDED_OVER, ids=" ".join)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert fastargs.parse(fastargs.RUN, args) is None


@pytest.mark.parametrize("args", VALIDATE_AGREED, ids=" ".join)
def test_plain_validate_command_lines_parse_as_typer_parses_them(args: list[str]) -> None:
    assert fastargs.parse(fastargs.VALIDATE, args) == typer_params("validate", args)


@pytest.mark.parametrize("args", VALIDATE_HANDED_OVER, ids=" ".join)
def test_any_other_validate_command_line_is_left_to_typer(args: list[str]) -> None:
    assert fastargs.parse(fastargs.VALIDATE, args) is None


def test_typer_still_reports_what_it_refuses(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "stageline", "run", "--parallel", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "--parallel" in done.stderr


_WORKFLOW = """on: push
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"""
_PROBE = """
import atexit, json, sys
heavy = (
    "sqlalchemy", "alembic", "rich", "pydantic", "httpx", "apprise", "stageline.deploy", "typer"
)
out = sys.argv[1]
def report():
    loaded = sorted({m for m in sys.modules for h in heavy if m == h or m.startswith(h + ".")})
    with open(out, "w") as f:
        json.dump(loaded, f)
atexit.register(report)
sys.argv = ["stageline", "run", "--json"]
from stageline.cli.app import main
main()
"""


def _git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)


def test_a_plain_run_loads_no_orm_no_terminal_ui_and_no_delivery(tmp_path: Path) -> None:
    """What start-up is made of: none of these on a run of `run:` steps, store existing."""
    repo = tmp_path / "repo"
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/ci.yml").write_text(_WORKFLOW)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "ci")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE")}
    env.pop("FORCE_COLOR", None)
    env.pop("TTY_COMPATIBLE", None)
    command = [sys.executable, "-c", _PROBE, str(tmp_path / "loaded.json")]
    first = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "sqlalchemy" in (tmp_path / "loaded.json").read_text()  # it created the store
    again = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "loaded.json").read_text() == "[]"
    assert '"conclusion": "success"' in again.stdout

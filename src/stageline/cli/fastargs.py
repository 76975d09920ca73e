"""Plain command lines of `stageline run` and `stageline validate`, parsed without Typer.

These are the commands users wait on (a run many times a day, validate in hooks and
editors). Typer costs ~40 ms to import and, on every call, builds a pydantic validator
per parameter (~0.15 s, pydantic's import included): most of a short run. So a command
line in plain forms (`--opt value`, `--opt=value`, `-o value`, flags, arguments) is
parsed here from a table of the command's parameters; anything else (help, completion,
an unusual or invalid form) goes to Typer, which reports it. The tables are checked
against the Typer declarations (`cli.run.run`, `cli.validate.validate`) by
tests/cli/test_app.py, which also checks that both parse the same command lines alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple


class Param(NamedTuple):
    """One parameter: its name in the command's function, its type, whether it repeats,
    and the checks Typer would make (a minimum; whether a directory is refused)."""

    name: str
    kind: type
    many: bool = False
    min: int | None = None
    dir_okay: bool = True


class Command(NamedTuple):
    options: dict[str, Param]
    argument: Param | None


def _flags(*entries: tuple[tuple[str, ...], Param]) -> dict[str, Param]:
    return {flag: param for flags, param in entries for flag in flags}


RUN = Command(
    _flags(
        (("--job", "-j"), Param("job", str, many=True)),
        (("--event",), Param("event", str)),
        (("--eventpath", "-e"), Param("eventpath", Path, dir_okay=False)),
        (("--workflows", "-W"), Param("workflows", Path)),
        (("--ref",), Param("ref", str)),
        (("--actor",), Param("actor", str)),
        (("--input",), Param("input", str, many=True)),
        (("--var",), Param("var", str, many=True)),
        (("--env",), Param("env", str, many=True)),
        (("--env-file",), Param("env_file", Path)),
        (("--secret", "-s"), Param("secret", str, many=True)),
        (("--secret-file",), Param("secret_file", Path)),
        (("--matrix",), Param("matrix", str, many=True)),
        (("--parallel", "-p"), Param("parallel", int, min=1)),
        (("--json",), Param("json_output", bool)),
        (("--keep-workspaces",), Param("keep_workspaces", bool)),
        (("--list", "-l"), Param("list_jobs", bool)),
        (("--dryrun", "-n"), Param("dryrun", bool)),
        (("--graph", "-g"), Param("graph", bool)),
        (("--offline",), Param("offline", bool)),
        (("--executor",), Param("executor", str)),
        (("--database-url",), Param("database_url", str)),
    ),
    Param("workflow", str),
)

VALIDATE = Command({}, Param("paths", Path, many=True))

COMMANDS = {"run": RUN, "validate": VALIDATE}


def parse(command: Command, args: list[str]) -> dict[str, Any] | None:
    """The parameters Typer would pass to the command for `args`, or None when Typer
    must parse them itself."""
    if any(k.endswith("_COMPLETE") for k in os.environ):
        return None
    params = [*command.options.values(), *([command.argument] if command.argument else [])]
    values: dict[str, Any] = {p.name: () if p.many else None for p in params}
    values.update({p.name: False for p in params if p.kind is bool})
    argument = command.argument
    rest = list(args)
    while rest:
        token = rest.pop(0)
        if not token.startswith("-"):
            if argument is None or (values[argument.name] is not None and not argument.many):
                return None
            value = _convert(argument, token)
            if value is None:
                return None
            values[argument.name] = [*values[argument.name], value] if argument.many else value
            continue
        flag, eq, text = token.partition("=")
        param = command.options.get(flag if flag.startswith("--") else token)
        if param is None:
            return None
        if param.kind is bool:
            if eq:
                return None
            values[param.name] = True
            continue
        if not eq:
            if not rest or rest[0].startswith("-"):
                return None
            text = rest.pop(0)
        value = _convert(param, text)
        if value is None:
            return None
        values[param.name] = [*values[param.name], value] if param.many else value
    return values


def _convert(param: Param, text: str) -> Any:
    """`text` as the parameter's type, or None where Typer could refuse it."""
    if param.kind is str:
        return text
    if param.kind is int:
        try:
            number = int(text)
        except ValueError:
            return None
        return None if param.min is not None and number < param.min else number
    if param.kind is Path:
        if not text or (not param.dir_okay and os.path.isdir(text)):
            return None
        return Path(text)
    return None

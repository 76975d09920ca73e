"""File commands: GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY, GITHUB_STATE.

Each step starts with empty files (as on GitHub); after the step they are read with
GitHub's rules:

* OUTPUT/ENV/STATE hold ``name=value`` lines (split at the first ``=``) or heredocs
  ``name<<DELIMITER`` … ``DELIMITER``; whichever of ``=`` and ``<<`` comes first decides.
  Empty lines are skipped; an empty name, a line that is neither form, or a heredoc without
  its closing delimiter is an error that fails the step.
* GITHUB_ENV refuses NODE_OPTIONS (a warning, the value is dropped).
* GITHUB_PATH: one directory per non-blank line, prepended to PATH of later steps; a later
  addition wins over an earlier one.
* GITHUB_STEP_SUMMARY: Markdown, at most 1 MiB per step, else dropped with a warning.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

SUMMARY_LIMIT = 1024 * 1024


class FileCommandError(Exception):
    """A file command's content is malformed; the message is what the user sees."""


def parse_key_values(text: str, kind: str) -> dict[str, str]:
    """Parse an OUTPUT/ENV/STATE file; `kind` names the file in error messages."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            key, value = line[:eq], line[eq + 1 :]
        elif heredoc >= 0:
            key, delimiter = line[:heredoc], line[heredoc + 2 :]
            if not key or not delimiter:
                raise FileCommandError(
                    f"Unable to process file command '{kind}': Invalid format '{line}'"
                )
            body: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise FileCommandError(
                    f"Unable to process file command '{kind}': "
                    f"Invalid value. Matching delimiter not found '{delimiter}'"
                )
            i += 1
            value = "\n".join(body)
        else:
            raise FileCommandError(
                f"Unable to process file command '{kind}': Invalid format '{line}'"
            )
        if not key:
            raise FileCommandError(
                f"Unable to process file command '{kind}': Invalid format '{line}'"
            )
        values[key] = value
    return values


def parse_path_file(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def prepend_path(additions: list[str], new: list[str]) -> None:
    """Record GITHUB_PATH additions in order; a repeated directory moves to the front."""
    for directory in new:
        if directory in additions:
            additions.remove(directory)
        additions.append(directory)


def build_path(additions: list[str], base: str) -> str:
    return os.pathsep.join([*reversed(additions), *([base] if base else [])])


@dataclass(slots=True)
class FileEffects:
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    warnings: list[str] = field(default_factory=list)


_KINDS = {
    "GITHUB_OUTPUT": "output",
    "GITHUB_ENV": "env",
    "GITHUB_PATH": "path",
    "GITHUB_STEP_SUMMARY": "step_summary",
    "GITHUB_STATE": "save_state",
}


@dataclass(slots=True)
class StepFiles:
    """The five files, created empty once per job under `directory` and emptied again
    after each step reads them: to a step they are fresh and empty, as on GitHub, without
    creating five files per step."""

    paths: dict[str, str]

    @classmethod
    def create(cls, directory: str) -> StepFiles:
        os.makedirs(directory, exist_ok=True)
        tag = uuid.uuid4().hex
        paths = {var: os.path.join(directory, f"{kind}_{tag}") for var, kind in _KINDS.items()}
        for path in paths.values():
            with open(path, "x"):
                pass
        return cls(paths)

    def env(self) -> dict[str, str]:
        return dict(self.paths)

    def _take(self, var: str) -> str:
        """The file's content; the file is left empty (re-created if the step removed it)."""
        path = self.paths[var]
        try:
            if os.stat(path).st_size == 0:
                return ""
            with open(path, "r+", encoding="utf-8-sig", errors="replace") as f:
                text = f.read()
                f.truncate(0)
            return text
        except FileNotFoundError:  # the step removed it (or all of RUNNER_TEMP)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w"):
                pass
            return ""

    def collect(self) -> FileEffects:
        """Read and parse the files (raises FileCommandError); they are empty afterwards."""
        texts = {var: self._take(var) for var in self.paths}
        effects = FileEffects()
        effects.outputs = parse_key_values(texts["GITHUB_OUTPUT"], "output")
        env = parse_key_values(texts["GITHUB_ENV"], "env")
        for key in [k for k in env if k.upper() == "NODE_OPTIONS"]:
            del env[key]
            effects.warnings.append(
                "Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command."
            )
        effects.env = env
        effects.path = parse_path_file(texts["GITHUB_PATH"])
        effects.state = parse_key_values(texts["GITHUB_STATE"], "save_state")
        summary = texts["GITHUB_STEP_SUMMARY"]
        if len(summary.encode()) > SUMMARY_LIMIT:
            effects.warnings.append(
                "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of "
                f"1024k, got {len(summary.encode()) // 1024}k."
            )
        else:
            effects.summary = summary
        return effects

"""Step log files: where they live and how to read or follow them.

Executors write one append-only file per step under the run's log directory
(`<home>/logs/<run_id>/<job-slug>/<NN>-<step-slug>.log`, lines already masked);
the store keeps each file's path and size. Reading never needs the database
beyond the paths, so `stageline logs --follow` can tail a file while the run
that writes it is still going.

The SQLite store keeps a path under its ``logs`` directory relative to the store
(``logs/...``, `stored_path`) and hands it out absolute (`resolved_path`), so a repository moved
with its ``.stageline`` keeps its logs; a path recorded absolute (by older versions,
or outside the store) is handed out as it is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


#: The store's directory of logs; the paths under it are kept relative to the store.
LOGS = "logs"


def stored_path(home: Path, path: str | None) -> str | None:
    """`path` as the store keeps it: ``logs/...`` when it lies under `home`'s logs."""
    if path is None or not os.path.isabs(path):
        return path
    relative = os.path.relpath(path, home)
    return relative if relative.startswith(f"{LOGS}/") else path


def resolved_path(home: Path, path: str | None) -> str | None:
    """A path the store kept, absolute again (any other one as it is)."""
    if not path or not path.startswith(f"{LOGS}/"):
        return path
    return os.path.join(home, path)


def slug(text: str, limit: int = 80) -> str:
    """A file-name-safe form of a job key or step name (``build (3.11, x)`` → ``build-3.11-x``)."""
    cleaned = _UNSAFE.sub("-", text).strip("-.")
    return (cleaned or "x")[:limit]


def run_log_dir(logs_root: Path, run_id: int) -> Path:
    return logs_root / str(run_id)


def job_log_dir(run_log: str | Path, job_key: str) -> Path:
    return Path(run_log) / slug(job_key)


def step_log_path(run_log: str | Path, job_key: str, index: int, name: str) -> Path:
    """Where a step's log goes (executors that choose their own paths report them)."""
    return job_log_dir(run_log, job_key) / f"{index + 1:02d}-{slug(name, 60)}.log"


def summary_path(log_path: str | Path) -> Path:
    """Where a step's `$GITHUB_STEP_SUMMARY` Markdown is kept: beside its log."""
    return Path(log_path).with_suffix(".summary.md")


def write_summary(log_path: str | Path, text: str) -> None:
    """Keep a step's summary beside its log, readable by its owner only, as the log is."""
    fd = os.open(summary_path(log_path), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


class LogTail:
    """Reads new complete lines of a growing file on each `read()` call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self, final: bool = False) -> Iterator[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            yield line.decode("utf-8", "replace")

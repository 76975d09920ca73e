"""Opening a repository's record: the one function every operation goes through.

`open` finds the repository `repo_dir` stands in (git's top level, else the
directory itself), opens its store and yields a `Context`. Reading or deciding needs
a record that exists (`NoRecordError` otherwise); starting a run creates it. The
repository's `.stageline.yml` loads on first use of `Context.config`, so a plain run
does not load `stageline.deploy`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stageline.errors import ConfigError, Position, RunError

if TYPE_CHECKING:
    from stageline.deploy.config import StagelineConfig
    from stageline.store import Store


class NoRecordError(RunError):
    """The repository has no record yet (nothing was ever run there)."""


@dataclass(slots=True)
class Context:
    """An open repository: its root, its store, and its `.stageline.yml` (on demand)."""

    root: Path
    store: Store
    _config: StagelineConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> StagelineConfig:
        if self._config is None:
            from stageline.deploy.config import load_config

            self._config = load_config(self.root)
        return self._config


def repo_root(repo_dir: str | Path) -> Path:
    """The top of the git repository `repo_dir` is in, or `repo_dir` outside one."""
    from stageline.engine.gitinfo import git

    top = git(Path(repo_dir), "rev-parse", "--show-toplevel")
    return Path(top) if top else Path(repo_dir)


@contextmanager
def open(
    repo_dir: str | Path,
    database_url: str | None = None,
    *,
    create: bool = False,
    reap: bool = False,
    at_root: bool = False,
) -> Iterator[Context]:
    """The record of the repository at `repo_dir`.

    `create`: make the store when there is none (starting a run); otherwise a missing
    one is a `NoRecordError`. `reap`: first complete runs whose process is gone, so
    what is read never claims a dead run is still going. `database_url` (else
    `$STAGELINE_DATABASE_URL`) names a shared store, e.g. PostgreSQL, instead of the
    repository's SQLite file; step logs stay under the repository's `.stageline/`.
    `at_root`: `repo_dir` is already the repository's top level (a prepared run found it),
    so git is not asked again.
    """
    from stageline.store import DATABASE_URL_ENV, DB_NAME, open_store, store_home

    url = database_url or os.environ.get(DATABASE_URL_ENV) or None
    root = Path(repo_dir) if at_root else repo_root(repo_dir)
    home = store_home(root)
    if url is None and not create and not (home / DB_NAME).exists():
        raise NoRecordError(
            f"no runs recorded yet (no store at {home})", hint="start one: stageline run"
        )
    with open_store(home, url) as store:
        if reap:
            store.runs.reap_orphans()
        yield Context(root, store)


def config_at(repo: str | Path, rev: str) -> StagelineConfig:
    """`.stageline.yml` as committed at `rev` of the git repository `repo` (a bare
    mirror too): what a run of that commit was planned with. An empty configuration
    when the commit has none; a ConfigError when `rev` is not there."""
    import subprocess

    from stageline.deploy.config import CONFIG_FILE, StagelineConfig, parse_config

    shown = subprocess.run(
        ["git", "show", f"{rev}:{CONFIG_FILE}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    where = f"{rev[:12]}:{CONFIG_FILE}"
    if shown.returncode == 0:
        return parse_config(shown.stdout, where)
    listed = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0:
        return StagelineConfig(Position(where), path=where)
    raise ConfigError(f"no commit {rev} in {repo}", hint="was it fetched? (stageline repo add)")


def over(store: Store, root: str | Path, config: StagelineConfig | None = None) -> Context:
    """A `Context` over an already-open `store` (the server's, shared by its requests):
    `root` is the repository as its runs record it (`repo_path`), and `config` its
    `.stageline.yml` when it was loaded from elsewhere (the server reads it from a
    checkout of the run's commit); else it loads from `root` on first use."""
    return Context(Path(root), store, config)


__all__ = ["Context", "NoRecordError", "config_at", "open", "over", "repo_root"]

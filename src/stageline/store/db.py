"""Opening a store: which backend, where it lives, migrations on open.

`open_store(home, url)` picks the backend: `url`, else `$STAGELINE_DATABASE_URL`,
names a PostgreSQL database (`store.postgres`); without one the record is the
SQLite file `<home>/stageline.db` (`store.sqlite`). `home` is `<repo>/.stageline`,
or `$STAGELINE_HOME` when that is set (`store_home`); logs live under `home/logs`
whichever backend holds the record.

SQLite migrations are applied on open. An older file is upgraded by Alembic, a new
one created from the models and stamped at `HEAD_REVISION`, both under an exclusive
file lock (`stageline.db.lock`) so two processes opening it at the same moment do
not both do it. A file at `HEAD_REVISION` is opened with the stdlib `sqlite3`
module alone: SQLAlchemy (whose import costs more than a whole short run) is loaded
only when something needs it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from stageline.errors import StoreError
from stageline.store.ports import Store
from stageline.store.sqlite import DB_NAME, SQLiteStore, connect

if TYPE_CHECKING:
    from sqlalchemy import Connection, MetaData

#: The newest migration in `migrations/versions` (a test keeps the two in step).
HEAD_REVISION = "0005"
#: Where the record is when no URL is given: a PostgreSQL URL selects that backend.
DATABASE_URL_ENV = "STAGELINE_DATABASE_URL"


#: The modes of the store's directory and files: its owner's only.
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def store_home(repo_dir: str | Path | None = None) -> Path:
    """`$STAGELINE_HOME`, else `<repo_dir>/.stageline`."""
    env = os.environ.get("STAGELINE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path(repo_dir or ".").resolve() / ".stageline"


def _revision(raw: sqlite3.Connection) -> str | None:
    try:
        row = raw.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def _metadata() -> MetaData:
    """Every table of the record (the delivery and server tables register on import)."""
    from stageline.store import (  # noqa: F401  (add their tables)
        deploy_models,
        secret_models,
        server_models,
        worker_models,
    )
    from stageline.store.models import Base

    return Base.metadata


def migrate(conn: Connection) -> None:
    """Every migration not yet applied, on either backend."""
    from alembic import command
    from alembic.config import Config

    _metadata()
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _is_empty(raw: sqlite3.Connection) -> bool:
    count: int = raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    return count == 0


def _create_fresh(conn: Connection) -> None:
    """A new store gets the models' schema at once, stamped at `HEAD_REVISION`:
    the same schema the migrations build (a test compares the two), without
    loading Alembic, which costs more than the first run it would delay."""
    from sqlalchemy import text

    with conn.begin():
        _metadata().create_all(conn)
        conn.execute(
            text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": HEAD_REVISION})


def open_store(home: str | Path, url: str | None = None) -> Store:
    """Open (creating and migrating as needed) the record for `home` (see the module doc)."""
    home = Path(home)
    try:
        home.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        home.chmod(PRIVATE_DIR)
    except OSError as err:
        raise StoreError(f"cannot create the store directory {home}: {err}") from err
    _ignore_in_git(home)
    if url is None:
        url = os.environ.get(DATABASE_URL_ENV)
    if url:
        from stageline.store.postgres import open_postgres

        return open_postgres(home, url)
    return open_sqlite(home)


def open_sqlite(home: Path) -> SQLiteStore:
    """The SQLite file under `home` (an existing directory), at `HEAD_REVISION`."""
    try:
        make_private(home / DB_NAME)
        store = SQLiteStore(home, connect(home / DB_NAME))
    except sqlite3.Error as err:
        raise StoreError(f"cannot open the record at {home / DB_NAME}: {err}") from err
    try:
        if _revision(store.raw) != HEAD_REVISION:
            with _file_lock(home / f"{DB_NAME}.lock"):
                current = _revision(store.raw)
                if current is None and _is_empty(store.raw):
                    _create_fresh(store.conn)
                elif current != HEAD_REVISION:
                    migrate(store.conn)
                    if store.conn.in_transaction():
                        store.conn.commit()
    except sqlite3.Error as err:
        store.close()
        raise StoreError(f"cannot open the record at {home / DB_NAME}: {err}") from err
    except Exception as err:
        from sqlalchemy.exc import OperationalError

        store.close()
        if isinstance(err, OperationalError):
            raise StoreError(f"cannot open the record at {home / DB_NAME}: {err.orig}") from err
        raise
    return store


#: What a repository's `.stageline/` holds that is not for committing (its `actions/`
#: directory of vendored actions is).
_GITIGNORE = (
    "# written by stageline: the run record, not for committing\n"
    + "\n".join(["stageline.db*", "logs/", "work/", "artifacts/", "cache/", "*.lock", ".gitignore"])
    + "\n"
)


def make_private(path: Path) -> None:
    """Create `path` readable by its owner only (0600), or make it so: the record holds
    what a run wrote, and SQLite gives its `-wal` and `-shm` files the database's mode."""
    try:
        path.chmod(PRIVATE_FILE)
    except FileNotFoundError:
        # Never open an existing database here: closing any descriptor of it drops every
        # POSIX lock this process holds on it, which SQLite's other connections rely on.
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))


def _ignore_in_git(home: Path) -> None:
    ignore = home / ".gitignore"
    if home.name == ".stageline" and not ignore.exists():
        with suppress(OSError):
            make_private(ignore)
            ignore.write_text(_GITIGNORE)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    make_private(path)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = [
    "DATABASE_URL_ENV",
    "DB_NAME",
    "HEAD_REVISION",
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "Store",
    "make_private",
    "migrate",
    "open_sqlite",
    "open_store",
    "store_home",
]

"""Opening the store: where it lives, SQLite settings, migrations on open.

The store is one SQLite file, `<repo>/.stageline/stageline.db`, or
`$STAGELINE_HOME/stageline.db` when that is set. It runs in WAL mode with
`synchronous=NORMAL` (a commit costs no fsync; a power cut may lose the last
transactions but never corrupts the file) and a busy timeout, so several
`stageline` processes can read and write it at once. Every transaction starts
with `BEGIN IMMEDIATE`: a writer takes the write lock up front and waits on the
busy timeout instead of failing when another process wrote in between.

Migrations are applied on open. An older store is upgraded by Alembic, a new
one created from the models and stamped at `HEAD_REVISION`, both under an
exclusive file lock (`stageline.db.lock`) so two processes opening it at the
same moment do not both do it. A store at `HEAD_REVISION` skips Alembic
entirely (importing and running it costs far more than the check).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError

from stageline.errors import StoreError

#: The newest migration in `migrations/versions` (a test keeps the two in step).
HEAD_REVISION = "0002"
DB_NAME = "stageline.db"
BUSY_TIMEOUT_MS = 30_000


def store_home(repo_dir: str | Path | None = None) -> Path:
    """`$STAGELINE_HOME`, else `<repo_dir>/.stageline`."""
    env = os.environ.get("STAGELINE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path(repo_dir or ".").resolve() / ".stageline"


class Store:
    """An open store: one connection, and the directory logs live under.

    Not thread-safe; one per process (or per event loop) is the intent.
    """

    def __init__(self, home: Path, engine: Engine) -> None:
        self.home = home
        self.engine = engine
        self._conn: Connection | None = None

    @property
    def path(self) -> Path:
        return self.home / DB_NAME

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A short write transaction (BEGIN IMMEDIATE ... COMMIT)."""
        conn = self.conn
        try:
            with conn.begin():
                yield conn
        except OperationalError as err:
            raise StoreError(f"cannot write the record at {self.path}: {err.orig}") from err
        except sqlite3.Error as err:
            raise StoreError(f"cannot write the record at {self.path}: {err}") from err

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _make_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", poolclass=None)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _revision(conn: Connection) -> str | None:
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError:
        conn.rollback()
        return None


def _migrate(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _is_empty(conn: Connection) -> bool:
    with conn.begin():
        return conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar() == 0


def _create_fresh(conn: Connection) -> None:
    """A new store gets the models' schema at once, stamped at `HEAD_REVISION`:
    the same schema the migrations build (a test compares the two), without
    loading Alembic, which costs more than the first run it would delay."""
    from stageline.store.models import Base

    with conn.begin():
        Base.metadata.create_all(conn)
        conn.execute(
            text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": HEAD_REVISION})


def open_store(home: str | Path) -> Store:
    """Open (creating and migrating as needed) the store under `home`."""
    home = Path(home)
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the store directory {home}: {err}") from err
    _ignore_in_git(home)
    store = Store(home, _make_engine(home / DB_NAME))
    try:
        with store.conn.begin():
            current = _revision(store.conn)
        if current != HEAD_REVISION:
            with _file_lock(home / f"{DB_NAME}.lock"):
                with store.conn.begin():
                    current = _revision(store.conn)
                if current is None and _is_empty(store.conn):
                    _create_fresh(store.conn)
                elif current != HEAD_REVISION:
                    _migrate(store.conn)
                    if store.conn.in_transaction():
                        store.conn.commit()
    except OperationalError as err:
        store.close()
        raise StoreError(f"cannot open the record at {home / DB_NAME}: {err.orig}") from err
    return store


#: What a repository's `.stageline/` holds that is not for committing (its `actions/`
#: directory of vendored actions is).
_GITIGNORE = (
    "# written by stageline: the run record, not for committing\n"
    + "\n".join(["stageline.db*", "logs/", "work/", "artifacts/", "cache/", "*.lock", ".gitignore"])
    + "\n"
)


def _ignore_in_git(home: Path) -> None:
    ignore = home / ".gitignore"
    if home.name == ".stageline" and not ignore.exists():
        with suppress(OSError):
            ignore.write_text(_GITIGNORE)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

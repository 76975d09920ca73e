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
same moment do not both do it. A store at `HEAD_REVISION` is opened with the
stdlib `sqlite3` module alone: the run path (`store.runs`, `store.queries`)
writes plain SQL on that connection, and SQLAlchemy (whose import costs more
than a whole short run) is loaded only when something asks for `Store.conn` or
`Store.transaction()` (deployments, migrations). Both share the one DBAPI
connection, so a setting made through either applies to both.
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

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, MetaData

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
    """An open store: one SQLite connection, and the directory logs live under.

    `raw` is the `sqlite3` connection (autocommit mode: `write()` opens each
    transaction); `conn`/`engine` wrap that same connection in SQLAlchemy on
    first use. Not thread-safe; one per process (or per event loop) is the intent.
    """

    def __init__(self, home: Path, raw: sqlite3.Connection) -> None:
        self.home = home
        self.raw = raw
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    @property
    def path(self) -> Path:
        return self.home / DB_NAME

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = _make_engine(self.path, self.raw)
        return self._engine

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Cursor]:
        """A short write transaction on the raw connection (BEGIN IMMEDIATE ... COMMIT)."""
        cursor = self.raw.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                self.raw.rollback()
                raise
            self.raw.commit()
        except sqlite3.Error as err:
            with suppress(sqlite3.Error):
                self.raw.rollback()
            raise StoreError(f"cannot write the record at {self.path}: {err}") from err
        finally:
            cursor.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A short write transaction through SQLAlchemy (BEGIN IMMEDIATE ... COMMIT)."""
        from sqlalchemy.exc import OperationalError

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
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        self.raw.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: Path) -> sqlite3.Connection:
    raw = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("PRAGMA synchronous = NORMAL")
    raw.execute("PRAGMA foreign_keys = ON")
    return raw


def _make_engine(path: Path, raw: sqlite3.Connection) -> Engine:
    """SQLAlchemy over the store's own connection (never a second one)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import StaticPool

    engine = create_engine(f"sqlite:///{path}", creator=lambda: raw, poolclass=StaticPool)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _revision(raw: sqlite3.Connection) -> str | None:
    try:
        row = raw.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def _metadata() -> MetaData:
    """Every table of the record (the delivery tables register on import)."""
    from stageline.store import deploy_models  # noqa: F401  (adds its tables)
    from stageline.store.models import Base

    return Base.metadata


def _migrate(conn: Connection) -> None:
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


def open_store(home: str | Path) -> Store:
    """Open (creating and migrating as needed) the store under `home`."""
    home = Path(home)
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the store directory {home}: {err}") from err
    _ignore_in_git(home)
    try:
        store = Store(home, _connect(home / DB_NAME))
    except sqlite3.Error as err:
        raise StoreError(f"cannot open the record at {home / DB_NAME}: {err}") from err
    try:
        if _revision(store.raw) != HEAD_REVISION:
            with _file_lock(home / f"{DB_NAME}.lock"):
                current = _revision(store.raw)
                if current is None and _is_empty(store.raw):
                    _create_fresh(store.conn)
                elif current != HEAD_REVISION:
                    _migrate(store.conn)
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

"""The PostgreSQL store: SQLAlchemy Core over psycopg 3, for several machines at once.

Opened from a URL (`postgresql+psycopg://user@host:port/db`); step logs stay files
under `home/logs`. Each port call is one transaction on a pooled connection; a read
made of independent statements runs in autocommit (`reading`). Reads hold at most
`READERS` of the pool's connections at once, so the server's API, however busy,
leaves connections for its runs' writes. Run numbers and environment claims are
serialized by transaction-scoped advisory locks (`store.sql.advisory_lock`), so they
hold across processes and machines. Migrations run on open, under a session advisory
lock, so two processes opening a new database at once do not both build it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from stageline.errors import StoreError
from stageline.store.dispatch_sql import SqlDispatchStore
from stageline.store.secret_sql import SecretStore
from stageline.store.server_sql import SqlServerStore
from stageline.store.sql import CoreRunStore, SqlDeploymentStore, advisory_lock

#: Connections the pool holds (`POOL_SIZE` kept open, up to `POOL_OVERFLOW` more while
#: busy); at most `READERS` of them read at once (`PostgresStore.reading`), the rest are
#: for writes. The server's thread pool answers 40 requests at once.
POOL_SIZE = 5
POOL_OVERFLOW = 15
READERS = 14
#: The session lock migrations hold (any constant; it only has to be the same everywhere).
_MIGRATION_LOCK = 0x5747_4C4E


class PostgresStore:
    """An open PostgreSQL store (see the module doc)."""

    def __init__(self, home: Path, engine: Engine) -> None:
        self.home = home
        self.engine = engine
        self.where = engine.url.render_as_string(hide_password=True)
        self._readers = threading.BoundedSemaphore(READERS)
        self.runs = CoreRunStore(
            self.transaction, self.where, advisory_lock, home, self.reading, self.snapshot
        )
        self.deployments = SqlDeploymentStore(self.transaction, advisory_lock)
        self.server = SqlServerStore(self.transaction, self.reading)
        self.dispatch = SqlDispatchStore(self.transaction)
        self.secrets = SecretStore(self._execute, home, unix_times=False)

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction; a database error becomes a one-line `StoreError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except DBAPIError as err:
            raise StoreError(
                f"cannot write the record at {self.where}: {_first_line(err)}"
            ) from err

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection in autocommit for reads: each statement is its own snapshot, sent
        without BEGIN and COMMIT, two round trips fewer for a one-statement read (every
        API request authenticates with one)."""
        with self._reader(), self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A transaction that only reads: statements that must agree (a run's jobs and
        their steps)."""
        with self._reader(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _reader(self) -> Iterator[None]:
        """One of the `READERS` connections reads may hold at once, the rest left for
        writes: a run's writes never queue behind the API's reads for a connection."""
        with self._readers:
            try:
                yield
            except DBAPIError as err:
                raise StoreError(
                    f"cannot read the record at {self.where}: {_first_line(err)}"
                ) from err

    def _execute(self, sql: str, params: dict[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
        with self.transaction() as conn:
            result = conn.execute(text(sql), params)
            rows = [tuple(row) for row in result] if result.returns_rows else []
            return rows, result.rowcount

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(err: DBAPIError) -> str:
    return str(err.orig).strip().splitlines()[0] if str(err.orig).strip() else type(err).__name__


def open_postgres(home: Path, url: str) -> PostgresStore:
    """Connect, migrate to head, and return the store; any failure is a `StoreError`."""
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise StoreError(f"invalid database URL {url!r}: {err}") from err
    if parsed.get_backend_name() != "postgresql":
        raise StoreError(
            f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
            "expected postgresql+psycopg://user@host:port/database"
        )
    parsed = parsed.set(drivername="postgresql+psycopg")
    shown = parsed.render_as_string(hide_password=True)
    try:
        engine = create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            connect_args={"connect_timeout": 10},
        )
    except (ArgumentError, NoSuchModuleError) as err:
        raise StoreError(f"invalid database URL {shown!r}: {err}") from err
    try:
        _migrate(engine)
    except DBAPIError as err:
        engine.dispose()
        raise StoreError(f"cannot open the record at {shown}: {_first_line(err)}") from err
    return PostgresStore(home, engine)


def _migrate(engine: Engine) -> None:
    from stageline.store.db import HEAD_REVISION, migrate

    with engine.connect() as conn:
        if _revision(conn) == HEAD_REVISION:
            conn.rollback()
            return
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        conn.commit()
        try:
            if _revision(conn) != HEAD_REVISION:
                migrate(conn)
                conn.commit()
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
            conn.commit()


def _revision(conn: Connection) -> str | None:
    if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

"""The team server's data dir and store (ADR 0011), opened once per process.

Layout of `data_dir` (0700): `stageline.db` (the SQLite store, unless a PostgreSQL
URL is given), `secret.key` (0600; signs session cookies), `mirrors/<name>.git`,
`checkouts/`, `logs/` (step logs, whichever backend holds the record).

The SQLite store's connection belongs to one thread, and the server answers in many
(FastAPI's thread pool, one thread per run), so `ServerData.store` is each thread's
own store on SQLite; on PostgreSQL one store (its pooled engine) serves every thread.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from stageline.errors import ConfigError

if TYPE_CHECKING:
    from stageline.store import Store

#: Where the server keeps its data when neither `--data-dir` nor this is given.
DATA_DIR_ENV = "STAGELINE_DATA_DIR"
DEFAULT_DATA_DIR = ".stageline-server"
SECRET_KEY_FILE = "secret.key"


def default_data_dir() -> Path:
    """`$STAGELINE_DATA_DIR`, else `./.stageline-server`."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()


class ServerData:
    """An open data dir: its paths, its secret key, and its store (see the module doc)."""

    def __init__(self, data_dir: Path, store: Store, database_url: str | None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self._shared = store if database_url else None
        self._owner = threading.get_ident()
        self._first = store
        self._local = threading.local()
        #: Each thread's own store (SQLite), by the thread that uses it.
        self._opened: dict[threading.Thread, Store] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        """The store to use in the calling thread (do not hand it to another thread)."""
        if self._shared is not None:
            return self._shared
        if threading.get_ident() == self._owner:
            return self._first
        found: Store | None = getattr(self._local, "store", None)
        if found is None:
            from stageline.store.db import open_sqlite

            found = open_sqlite(self.data_dir)
            self._local.store = found
            with self._lock:
                self._opened[threading.current_thread()] = found
        return found

    def release(self) -> None:
        """Close the calling thread's own store (a run thread calls it as it ends)."""
        found: Store | None = getattr(self._local, "store", None)
        if found is None:
            return
        self._local.store = None
        with self._lock:
            if self._opened.pop(threading.current_thread(), None) is None:
                return  # `close` took it already
        found.close()

    @property
    def mirrors_dir(self) -> Path:
        return self.data_dir / "mirrors"

    @property
    def checkouts_dir(self) -> Path:
        return self.data_dir / "checkouts"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def secret_key(self) -> bytes:
        """The key that signs session cookies, made (0600) on first use."""
        return _secret_key(self.data_dir / SECRET_KEY_FILE)

    def close(self) -> None:
        """Close the stores; a thread still running (a run left waiting at a gate, which
        outlives the server until the process exits) keeps its own, so that it never
        writes through a closed connection."""
        with self._lock:
            ended = [t for t in self._opened if not t.is_alive()]
            closing = [self._opened.pop(t) for t in ended]
        for store in closing:
            with suppress(Exception):
                store.close()
        self._first.close()


def _secret_key(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    except ValueError as err:
        raise ConfigError(f"{path}: not a secret key written by stageline: {err}") from err
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


def _make_data_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(data_dir, 0o700)
        for sub in ("mirrors", "checkouts", "logs"):
            (data_dir / sub).mkdir(exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the server's data dir {data_dir}: {err}") from err


@contextmanager
def open_server(
    data_dir: str | Path | None, database_url: str | None = None
) -> Iterator[ServerData]:
    """The server's data dir (made 0700 when new) and store, migrated to the newest
    schema; `database_url` (else `$STAGELINE_DATABASE_URL`) names a PostgreSQL store."""
    from stageline.store import DATABASE_URL_ENV, open_store

    where = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()
    url = database_url or os.environ.get(DATABASE_URL_ENV) or None
    _make_data_dir(where)
    store = open_store(where, url)
    server = ServerData(where, store, url)
    try:
        server.secret_key  # noqa: B018  (made now, so a read-only mistake shows at start)
        yield server
    finally:
        server.close()


__all__ = ["DATA_DIR_ENV", "ServerData", "default_data_dir", "open_server"]

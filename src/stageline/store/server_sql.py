"""`ServerStore` on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Every method is one transaction from the store's `transaction()` (as
`store.sql.SqlDeploymentStore`), or, for a method that only reads, from its `read`
(SQLite: a deferred transaction, which neither waits for the write lock nor takes it:
a request authenticating must not queue behind a run's writes). A uniqueness
conflict (a repository or user name taken, an email already mapped) is a `StoreError`
saying which; the replay guard (`record_trigger`) is an `INSERT ... ON CONFLICT DO
NOTHING`, so of several concurrent deliveries with one `(source, delivery_id)` exactly
one is recorded, on both backends, without an error for the others.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from stageline.errors import StoreError
from stageline.store.server_models import (
    Audit,
    Repo,
    RunLinkRow,
    Schedule,
    Token,
    Trigger,
    User,
    UserEmail,
)
from stageline.store.server_records import (
    TRIGGER_OUTCOMES,
    AuditRow,
    RepoRow,
    RunLink,
    TokenRow,
    TriggerRow,
    UserRow,
)
from stageline.store.sql import Transaction, _one, _rows

_repos: Table = Repo.__table__  # type: ignore[assignment]
_users: Table = User.__table__  # type: ignore[assignment]
_emails: Table = UserEmail.__table__  # type: ignore[assignment]
_tokens: Table = Token.__table__  # type: ignore[assignment]
_triggers: Table = Trigger.__table__  # type: ignore[assignment]
_links: Table = RunLinkRow.__table__  # type: ignore[assignment]
_schedules: Table = Schedule.__table__  # type: ignore[assignment]
_audit: Table = Audit.__table__  # type: ignore[assignment]


#: A live token by its hash, with its user and each of the user's emails (a row each).
_TOKEN_BY_HASH = (
    select(
        *(c.label(f"t_{c.name}") for c in _tokens.c),
        *(c.label(f"u_{c.name}") for c in _users.c),
        _emails.c.email,
    )
    .join_from(_tokens, _users, _users.c.id == _tokens.c.user_id)
    .outerjoin(_emails, _emails.c.user_id == _users.c.id)
    .where(_tokens.c.token_hash == bindparam("token_hash"), _tokens.c.revoked_at.is_(None))
    .order_by(_emails.c.email)
)


def _upsert_ignoring(conn: Connection, table: Table) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` in the connection's dialect."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


class SqlServerStore:
    """`ServerStore` (see `store.ports`) for both backends."""

    def __init__(self, transaction: Transaction, read: Transaction | None = None) -> None:
        self._tx = transaction
        self._read = read or transaction

    @contextmanager
    def _write(self, conflict: str) -> Iterator[Connection]:
        """A transaction whose uniqueness violation is reported as `conflict`."""
        try:
            with self._tx() as conn:
                yield conn
        except IntegrityError as err:  # SQLite: the store passes it through
            raise StoreError(conflict) from err
        except StoreError as err:  # PostgreSQL: the store already wrapped it
            if isinstance(err.__cause__, IntegrityError):
                raise StoreError(conflict) from err
            raise

    # -- repositories --------------------------------------------------------------------

    def add_repo(
        self, name: str, url: str, mirror_path: str, webhook_secret: str | None
    ) -> RepoRow:
        values = {
            "name": name,
            "url": url,
            "mirror_path": mirror_path,
            "webhook_secret": webhook_secret,
            "created_at": time.time(),
        }
        with self._write(f"a repository named {name!r} is already registered") as conn:
            if conn.execute(select(_repos.c.id).where(_repos.c.name == name)).first():
                raise StoreError(f"a repository named {name!r} is already registered")
            new_id = conn.execute(
                _repos.insert().values(values).returning(_repos.c.id)
            ).scalar_one()
            return _repo(conn.execute(select(_repos).where(_repos.c.id == new_id)).one())

    def get_repo(self, name: str) -> RepoRow | None:
        return self._repo_where(_repos.c.name == name)

    def get_repo_by_id(self, repo_id: int) -> RepoRow | None:
        return self._repo_where(_repos.c.id == repo_id)

    def _repo_where(self, clause: Any) -> RepoRow | None:
        with self._read() as conn:
            row = conn.execute(select(_repos).where(clause)).first()
            return None if row is None else _repo(row)

    def list_repos(self) -> list[RepoRow]:
        with self._read() as conn:
            return [_repo(r) for r in conn.execute(select(_repos).order_by(_repos.c.name))]

    def repo_for_url(self, url: str) -> RepoRow | None:
        """The repository registered under `url`, compared without a trailing `/` or
        `.git` and case-insensitively (forges send either form)."""
        wanted = _url_key(url)
        for repo in self.list_repos():
            if _url_key(repo.url) == wanted:
                return repo
        return None

    # -- users ---------------------------------------------------------------------------

    def add_user(
        self, name: str, role: str, emails: list[str], password_hash: str | None
    ) -> UserRow:
        values = {
            "name": name,
            "role": role,
            "password_hash": password_hash,
            "created_at": time.time(),
        }
        wanted = sorted({e.strip().lower() for e in emails if e.strip()})
        with self._write(f"a user named {name!r} exists, or one of {wanted} is taken") as conn:
            if conn.execute(select(_users.c.id).where(_users.c.name == name)).first():
                raise StoreError(f"a user named {name!r} already exists")
            taken = conn.execute(
                select(_emails.c.email).where(_emails.c.email.in_(wanted))
            ).scalars()
            for email in taken:
                raise StoreError(f"the email {email} already belongs to another user")
            user_id = conn.execute(
                _users.insert().values(values).returning(_users.c.id)
            ).scalar_one()
            if wanted:
                conn.execute(_emails.insert(), [{"email": e, "user_id": user_id} for e in wanted])
            return self._user(
                conn, conn.execute(select(_users).where(_users.c.id == user_id)).one()
            )

    def get_user(self, name: str) -> UserRow | None:
        return self._user_where(_users.c.name == name)

    def get_user_by_id(self, user_id: int) -> UserRow | None:
        return self._user_where(_users.c.id == user_id)

    def user_for_email(self, email: str) -> UserRow | None:
        owner = select(_emails.c.user_id).where(_emails.c.email == email.strip().lower())
        return self._user_where(_users.c.id.in_(owner.scalar_subquery()))

    def list_users(self) -> list[UserRow]:
        with self._read() as conn:
            rows = conn.execute(select(_users).order_by(_users.c.name)).all()
            return [self._user(conn, r) for r in rows]

    def _user_where(self, clause: Any) -> UserRow | None:
        with self._read() as conn:
            row = conn.execute(select(_users).where(clause)).first()
            return None if row is None else self._user(conn, row)

    @staticmethod
    def _user(conn: Connection, row: Row[Any]) -> UserRow:
        emails = conn.execute(
            select(_emails.c.email).where(_emails.c.user_id == row.id).order_by(_emails.c.email)
        ).scalars()
        return UserRow(
            id=row.id,
            name=row.name,
            role=row.role,
            emails=tuple(emails),
            created_at=row.created_at,
            password_hash=row.password_hash,
        )

    # -- tokens --------------------------------------------------------------------------

    def add_token(
        self, user_id: int, name: str, token_hash: str, expires_at: datetime | None
    ) -> TokenRow:
        values = {
            "user_id": user_id,
            "name": name,
            "token_hash": token_hash,
            "created_at": time.time(),
            "expires_at": expires_at,
        }
        with self._write("that token exists already") as conn:
            new_id = conn.execute(
                _tokens.insert().values(values).returning(_tokens.c.id)
            ).scalar_one()
            row = conn.execute(select(_tokens).where(_tokens.c.id == new_id)).one()
            return _rows(TokenRow, [row])[0]

    def token_by_hash(self, token_hash: str) -> tuple[TokenRow, UserRow] | None:
        """The live token with this hash and its user: None when unknown, revoked or expired.
        One statement, built once, as every request authenticates by it."""
        with self._read() as conn:
            rows = conn.execute(_TOKEN_BY_HASH, {"token_hash": token_hash}).all()
        if not rows:
            return None
        first = rows[0]._mapping
        token = TokenRow(**{f.name: first[f"t_{f.name}"] for f in fields(TokenRow)})
        if token.expires_at is not None and token.expires_at.timestamp() <= time.time():
            return None
        user = UserRow(
            id=first["u_id"],
            name=first["u_name"],
            role=first["u_role"],
            emails=tuple(r.email for r in rows if r.email is not None),
            created_at=first["u_created_at"],
            password_hash=first["u_password_hash"],
        )
        return token, user

    def list_tokens(self, user_id: int) -> list[TokenRow]:
        with self._read() as conn:
            rows = conn.execute(
                select(_tokens).where(_tokens.c.user_id == user_id).order_by(_tokens.c.id)
            )
            return _rows(TokenRow, rows)

    def get_token(self, token_id: int) -> TokenRow | None:
        with self._read() as conn:
            return _one(
                TokenRow, conn.execute(select(_tokens).where(_tokens.c.id == token_id)).first()
            )

    def revoke_token(self, token_id: int) -> bool:
        """Revoke a live token; False when there is none by that id (or it was revoked)."""
        with self._tx() as conn:
            done = conn.execute(
                update(_tokens)
                .where(_tokens.c.id == token_id, _tokens.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
            return bool(done.rowcount)

    # -- triggers ------------------------------------------------------------------------

    def record_trigger(
        self,
        repo_id: int | None,
        source: str,
        kind: str,
        delivery_id: str | None,
        ref: str,
        sha: str,
        actor: str,
        payload: dict[str, Any],
    ) -> int | None:
        values: dict[str, Any] = {
            "repo_id": repo_id,
            "source": source,
            "kind": kind,
            "delivery_id": delivery_id,
            "ref": ref,
            "sha": sha,
            "actor": actor,
            "payload": payload,
            "created_at": time.time(),
            "run_ids": [],
        }
        with self._tx() as conn:
            stmt = _upsert_ignoring(conn, _triggers).values(values).returning(_triggers.c.id)
            found = conn.execute(stmt).scalar()
            return None if found is None else int(found)

    def finish_trigger(
        self, trigger_id: int, outcome: str, reason: str | None, run_ids: list[int]
    ) -> None:
        if outcome not in TRIGGER_OUTCOMES:
            raise ValueError(f"unknown trigger outcome {outcome!r}")
        with self._tx() as conn:
            conn.execute(
                update(_triggers)
                .where(_triggers.c.id == trigger_id)
                .values(outcome=outcome, reason=reason, run_ids=list(run_ids))
            )

    def list_triggers(
        self, repo_id: int | None = None, limit: int = 50, before: int | None = None
    ) -> list[TriggerRow]:
        """Newest first; `before` (a trigger id) pages back."""
        stmt = select(_triggers).order_by(_triggers.c.id.desc()).limit(limit)
        if repo_id is not None:
            stmt = stmt.where(_triggers.c.repo_id == repo_id)
        if before is not None:
            stmt = stmt.where(_triggers.c.id < before)
        with self._read() as conn:
            return _rows(TriggerRow, conn.execute(stmt))

    def get_trigger(self, trigger_id: int) -> TriggerRow | None:
        with self._read() as conn:
            row = conn.execute(select(_triggers).where(_triggers.c.id == trigger_id)).first()
            return _one(TriggerRow, row)

    # -- run links -----------------------------------------------------------------------

    def link_run(
        self,
        run_id: int,
        repo_id: int,
        trigger_id: int | None,
        started_by: str,
        author_email: str,
    ) -> None:
        values = {
            "run_id": run_id,
            "repo_id": repo_id,
            "trigger_id": trigger_id,
            "started_by": started_by,
            "author_email": author_email.strip().lower(),
        }
        with self._write(f"run {run_id} is already linked") as conn:
            conn.execute(_links.insert().values(values))

    def run_link(self, run_id: int) -> RunLink | None:
        with self._read() as conn:
            return _one(
                RunLink, conn.execute(select(_links).where(_links.c.run_id == run_id)).first()
            )

    def runs_of_repo(self, repo_id: int) -> list[int]:
        """The ids of the repository's runs, newest first."""
        with self._read() as conn:
            stmt = select(_links.c.run_id).where(_links.c.repo_id == repo_id)
            return [int(r) for r in conn.execute(stmt.order_by(_links.c.run_id.desc())).scalars()]

    # -- schedules -----------------------------------------------------------------------

    def schedule_last(self, repo_id: int, workflow: str, cron: str) -> datetime | None:
        with self._read() as conn:
            found: datetime | None = conn.execute(
                select(_schedules.c.last_at).where(
                    _schedules.c.repo_id == repo_id,
                    _schedules.c.workflow == workflow,
                    _schedules.c.cron == cron,
                )
            ).scalar()
            return found

    def schedule_mark(self, repo_id: int, workflow: str, cron: str, at: datetime) -> None:
        key = {"repo_id": repo_id, "workflow": workflow, "cron": cron}
        with self._tx() as conn:
            done = conn.execute(
                update(_schedules)
                .where(*(_schedules.c[k] == v for k, v in key.items()))
                .values(last_at=at)
            )
            if not done.rowcount:
                conn.execute(_upsert_ignoring(conn, _schedules).values(**key, last_at=at))

    # -- audit ---------------------------------------------------------------------------

    def audit(
        self, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None:
        values: dict[str, Any] = {
            "at": time.time(),
            "actor": actor,
            "action": action,
            "target": target,
            "detail": detail,
        }
        with self._tx() as conn:
            conn.execute(_audit.insert().values(values))

    def list_audit(self, limit: int = 100, before: int | None = None) -> list[AuditRow]:
        """Newest first; `before` (an audit id) pages back."""
        stmt = select(_audit).order_by(_audit.c.id.desc()).limit(limit)
        if before is not None:
            stmt = stmt.where(_audit.c.id < before)
        with self._read() as conn:
            return _rows(AuditRow, conn.execute(stmt))


def _repo(row: Row[Any]) -> RepoRow:
    return _rows(RepoRow, [row])[0]


def _url_key(url: str) -> str:
    return url.strip().rstrip("/").removesuffix(".git").lower()


__all__ = ["SqlServerStore"]

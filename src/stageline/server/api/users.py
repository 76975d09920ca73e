"""`/api/v1/users`, `/api/v1/tokens`, `/api/v1/audit`: admins manage users and read the
audit log; everyone manages their own tokens."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from stageline.app import accounts
from stageline.app.accounts import Role
from stageline.server.auth import Admin, Viewer
from stageline.server.problems import NotFound
from stageline.server.state import MAX_ID, Server

if TYPE_CHECKING:
    from stageline.store.server_records import TokenRow, UserRow

router = APIRouter()


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    emails: list[str]
    created_at: datetime

    @classmethod
    def of(cls, row: UserRow) -> UserOut:
        return cls(
            id=row.id,
            name=row.name,
            role=row.role,
            emails=list(row.emails),
            created_at=row.created_at,
        )


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Role
    emails: list[str] = Field(default_factory=list)
    #: None: a user who signs in with tokens only.
    password: str | None = Field(default=None, min_length=1, max_length=1024)


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: TokenRow) -> TokenOut:
        return cls(
            id=row.id,
            name=row.name,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )


class TokenIn(BaseModel):
    name: str = Field(default="token", min_length=1, max_length=255)
    #: `30d`, `12h`, `never`...
    expires: str = Field(default="30d", max_length=32)


class NewToken(TokenOut):
    #: The token itself: shown this once, never again.
    token: str


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, object] | None


@router.get("/users", response_model=list[UserOut], tags=["users"])
def list_users(
    principal: Admin,
    server: Server,
) -> list[UserOut]:
    return [UserOut.of(u) for u in server.store.server.list_users()]


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
def add_user(
    body: UserIn,
    principal: Admin,
    server: Server,
) -> UserOut:
    row = accounts.add_user(
        server, body.name, body.role, body.emails, body.password, by=principal.name
    )
    return UserOut.of(row)


@router.get("/users/me", response_model=UserOut, tags=["users"])
def me(principal: Viewer) -> UserOut:
    return UserOut.of(principal.user)


@router.get("/tokens", response_model=list[TokenOut], tags=["tokens"])
def list_tokens(
    principal: Viewer,
    server: Server,
) -> list[TokenOut]:
    return [TokenOut.of(t) for t in server.store.server.list_tokens(principal.user.id)]


@router.post("/tokens", response_model=NewToken, status_code=201, tags=["tokens"])
def create_token(
    body: TokenIn,
    principal: Viewer,
    server: Server,
) -> NewToken:
    plaintext, row = accounts.create_token(server, principal.user, body.name, body.expires)
    return NewToken(token=plaintext, **TokenOut.of(row).model_dump())


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"])
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    principal: Viewer,
    server: Server,
) -> Response:
    try:
        accounts.revoke_token(server, token_id, principal.user)
    except accounts.NoSuchToken as err:
        raise NotFound(str(err)) from err
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditOut], tags=["audit"])
def audit_log(
    principal: Admin,
    server: Server,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[AuditOut]:
    rows = accounts.audit_log(server, limit, before)
    return [
        AuditOut(id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target, detail=r.detail)
        for r in rows
    ]

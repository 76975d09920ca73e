"""`/api/v1/repos`: registered repositories (anyone signed in reads; admins add)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter
from pydantic import BaseModel, Field

from stageline.app import repos
from stageline.server.auth import Admin, Viewer
from stageline.server.problems import NotFound
from stageline.server.state import Server

if TYPE_CHECKING:
    from stageline.store.server_records import RepoRow

router = APIRouter(tags=["repositories"])


class RepoOut(BaseModel):
    id: int
    name: str
    url: str
    created_at: datetime
    #: Whether webhooks must be signed (the secret itself is never shown).
    has_webhook_secret: bool

    @classmethod
    def of(cls, row: RepoRow) -> RepoOut:
        return cls(
            id=row.id,
            name=row.name,
            url=row.url,
            created_at=row.created_at,
            has_webhook_secret=bool(row.webhook_secret),
        )


class RepoIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=1024)
    webhook_secret: str | None = Field(default=None, max_length=1024)


@router.get("/repos", response_model=list[RepoOut])
def list_repos(
    principal: Viewer,
    server: Server,
) -> list[RepoOut]:
    return [RepoOut.of(r) for r in server.store.server.list_repos()]


@router.post("/repos", response_model=RepoOut, status_code=201)
def add_repo(
    body: RepoIn,
    principal: Admin,
    server: Server,
) -> RepoOut:
    row = repos.add_repo(server, body.name, body.url, body.webhook_secret, by=principal.name)
    return RepoOut.of(row)


@router.get("/repos/{name}", response_model=RepoOut)
def get_repo(
    name: str,
    principal: Viewer,
    server: Server,
) -> RepoOut:
    row = server.store.server.get_repo(name)
    if row is None:
        raise NotFound(f"no repository named {name!r} is registered")
    return RepoOut.of(row)

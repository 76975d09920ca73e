"""`/api/v1/repos/{name}/secrets`: a registered repository's secrets (admins only).

Names, environments and times are listed; a value goes in (PUT) and never comes out:
no route returns one. Every change is audited, without the value.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from stageline.app import secrets
from stageline.app.served import UnknownRepo
from stageline.server.auth import Admin
from stageline.server.problems import NotFound
from stageline.server.state import Server

router = APIRouter(tags=["secrets"])


class SecretOut(BaseModel):
    name: str
    #: '' for a repository secret.
    environment: str
    updated_at: datetime


class SecretIn(BaseModel):
    value: str = Field(min_length=1, max_length=65536)
    #: An environment's secret (released once its gate passed); None: the repository's.
    environment: str | None = Field(default=None, max_length=255)


class SecretSet(BaseModel):
    name: str
    environment: str
    created: bool


def _scope(server: Server, name: str) -> str:
    try:
        return secrets.server_scope(server, name)
    except UnknownRepo as err:
        raise NotFound(err.message, hint=err.hint) from err


@router.get("/repos/{name}/secrets", response_model=list[SecretOut])
def list_secrets(name: str, principal: Admin, server: Server) -> list[SecretOut]:
    found = secrets.list_secrets(server.store, _scope(server, name))
    return [
        SecretOut(name=s.name, environment=s.environment, updated_at=s.created_at) for s in found
    ]


@router.put("/repos/{name}/secrets/{secret}", response_model=SecretSet)
def set_secret(
    name: str, secret: str, body: SecretIn, principal: Admin, server: Server, response: Response
) -> SecretSet:
    scope = _scope(server, name)
    created = secrets.set_secret(server.store, scope, secret, body.value, body.environment)
    response.status_code = 201 if created else 200
    where = {"secret": secret.upper(), "environment": body.environment or ""}
    secrets.audited(server, principal.name, "secret.set", scope, where)
    return SecretSet(name=secret.upper(), environment=body.environment or "", created=created)


@router.delete("/repos/{name}/secrets/{secret}", status_code=204)
def remove_secret(
    name: str, secret: str, principal: Admin, server: Server, environment: str | None = None
) -> Response:
    scope = _scope(server, name)
    try:
        secrets.remove_secret(server.store, scope, secret, environment)
    except secrets.NoSuchSecret as err:
        raise NotFound(err.message, hint=err.hint) from err
    where = {"secret": secret.upper(), "environment": environment or ""}
    secrets.audited(server, principal.name, "secret.rm", scope, where)
    return Response(status_code=204)

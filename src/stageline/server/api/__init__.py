"""The REST API under `/api/v1`: one router per resource, included in this order by
`server.app.create_app`. Add a router by importing it here and appending it to
`routers`; every route in it needs a rule (`server.auth`). `root_routers` are included
outside `/api/v1`: the webhooks, whose URLs forges and hooks are configured with."""

from __future__ import annotations

from fastapi import APIRouter

from stageline.server.api import (
    environments,
    hooks,
    logs,
    repos,
    runs,
    secrets,
    triggers,
    users,
)

routers: list[APIRouter] = [
    repos.router,
    users.router,
    triggers.router,
    runs.router,
    logs.router,
    environments.router,
    secrets.router,
]
root_routers: list[APIRouter] = [hooks.router]

__all__ = ["root_routers", "routers"]

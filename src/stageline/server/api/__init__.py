"""The REST API under `/api/v1`: one router per resource, included in this order by
`server.app.create_app`. Add a router by importing it here and appending it to
`routers`; every route in it needs a rule (`server.auth`). `root_routers` are included
outside `/api/v1`: the webhooks, whose URLs forges and hooks are configured with, and
the routes workers call, whose full paths are `worker.protocol`'s (ADR 0012)."""

from __future__ import annotations

from fastapi import APIRouter

from stageline.server.api import (
    agent,
    agent_files,
    environments,
    git,
    hooks,
    logs,
    repos,
    runs,
    triggers,
    users,
    workers,
)

routers: list[APIRouter] = [
    repos.router,
    users.router,
    triggers.router,
    runs.router,
    logs.router,
    environments.router,
    workers.router,
]
#: `agent` declares its full paths (`worker.protocol`), which workers share.
root_routers: list[APIRouter] = [hooks.router, git.router, agent_files.router, agent.router]

__all__ = ["root_routers", "routers"]

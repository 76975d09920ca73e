"""The REST API under `/api/v1`: one router per resource, included in this order by
`server.app.create_app`. Add a router by importing it here and appending it to
`routers`; every route in it needs a rule (`server.auth`)."""

from __future__ import annotations

from fastapi import APIRouter

from stageline.server.api import repos, users

routers: list[APIRouter] = [repos.router, users.router]

__all__ = ["routers"]

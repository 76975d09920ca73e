"""Who may call each page of the web UI: the rows the route x role test
(tests/server/test_auth.py) adds to its table, and the path values it calls them with."""

from __future__ import annotations

WEB_RULES: dict[tuple[str, str], str] = {
    ("GET", "/static"): "public",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "viewer",
    ("GET", "/settings"): "viewer",
    ("POST", "/settings/tokens"): "viewer",
    ("POST", "/settings/tokens/{token_id}/revoke"): "viewer",
    ("GET", "/"): "viewer",
    ("GET", "/runs/table"): "viewer",
    ("GET", "/runs/{run_id}"): "viewer",
    ("GET", "/runs/{run_id}/stream"): "viewer",
    ("GET", "/runs/{run_id}/job"): "viewer",
    ("GET", "/runs/{run_id}/job/stream"): "viewer",
    ("POST", "/runs/{run_id}/decide"): "reviewer",
    ("POST", "/runs/{run_id}/cancel"): "developer",
    ("POST", "/runs/{run_id}/rerun"): "developer",
    ("GET", "/dispatch"): "developer",
    ("POST", "/dispatch"): "developer",
    ("GET", "/environments"): "viewer",
    ("POST", "/environments/{environment}/rollback"): "reviewer",
    ("GET", "/events"): "viewer",
    ("GET", "/repos"): "viewer",
    ("POST", "/repos"): "admin",
    ("GET", "/audit"): "admin",
    ("GET", "/users"): "admin",
    ("POST", "/users"): "admin",
}
WEB_PARAMS = {"run_id": "999999", "environment": "nosuch"}

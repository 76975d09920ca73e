"""Talking to a Stageline server: the record commands' `--server URL` path.

The server's API answers with the documents `--json` prints locally (the
`server.api.schemas` shapes), so with `--json` a command prints what the server sent.
For a table, `record` turns a document back into the store record the local
renderer takes: one renderer per command, whichever record it reads.

The token comes from $STAGELINE_TOKEN only (a command-line token would show in `ps`
and in the shell's history). Every failure is a `RemoteError`: one line, the server's
problem detail when it sent one, never a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from stageline.errors import StagelineError

if TYPE_CHECKING:
    import httpx

TOKEN_ENV = "STAGELINE_TOKEN"
#: Each request's timeout; a followed log stream waits without one between events.
TIMEOUT_S = 30.0

R = TypeVar("R")


class RemoteError(StagelineError):
    """The server could not be reached, or refused the request."""


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event."""

    name: str
    data: str
    id: str | None


class Remote:
    """A server's /api/v1, as the user the token belongs to."""

    def __init__(self, url: str, token: str, *, transport: httpx.BaseTransport | None = None):
        import httpx

        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=TIMEOUT_S,
            transport=transport,
        )

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=_given(params)).json()

    def post(self, path: str, body: dict[str, Any], *, wait: bool = False, **params: Any) -> Any:
        """POST `body`; `wait`: for as long as the server takes (a rollback re-runs a job)."""
        import httpx

        timeout = httpx.Timeout(TIMEOUT_S, read=None) if wait else TIMEOUT_S
        return self._send("POST", path, json=body, params=_given(params), timeout=timeout).json()

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("PUT", path, json=body).json()

    def delete(self, path: str, **params: Any) -> None:
        self._send("DELETE", path, params=_given(params))

    def content(self, path: str) -> bytes:
        return self._send("GET", path).content

    def events(self, path: str, **params: Any) -> Iterator[Event]:
        """The server-sent events of `path` until the server ends the stream."""
        import httpx

        headers = {"Accept": "text/event-stream"}
        timeout = httpx.Timeout(TIMEOUT_S, read=None)
        try:
            with self._client.stream(
                "GET", path, params=_given(params), headers=headers, timeout=timeout
            ) as response:
                if response.is_error:
                    response.read()
                    raise self._refused(response)
                yield from parse_events(response.iter_lines())
        except httpx.HTTPError as err:
            raise self._unreachable(err) from err

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise self._unreachable(err) from err
        if response.is_error:
            raise self._refused(response)
        return response

    def _unreachable(self, err: Exception) -> RemoteError:
        return RemoteError(
            f"cannot reach the server at {self.url}: {err}",
            hint="is `stageline serve` running there? (--server, $STAGELINE_SERVER)",
        )

    def _refused(self, response: httpx.Response) -> RemoteError:
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        detail = problem.get("detail") or problem.get("title") or response.reason_phrase
        hint = problem.get("hint")
        if response.status_code == 401 and not hint:
            hint = f"set ${TOKEN_ENV} to a valid token (stageline token create)"
        return RemoteError(f"the server answered {response.status_code}: {detail}", hint=hint)


def connect(url: str) -> Remote:
    """The server at `url`, with the token of $STAGELINE_TOKEN."""
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise RemoteError(
            f"no token for the server at {url}",
            hint=f"set ${TOKEN_ENV} to a token from `stageline token create`",
        )
    return Remote(url, token)


def path(*parts: str | int) -> str:
    """An API path with each part quoted (a job may be named `build (3.11, x)`)."""
    return "/" + "/".join(quote(str(p), safe="") for p in parts)


def parse_events(lines: Iterator[str]) -> Iterator[Event]:
    """Server-sent events from the stream's lines (the WHATWG format: `event:`, `data:`,
    `id:` fields, an empty line ends an event, `:` starts a comment)."""
    name, last_id = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield Event(name, "\n".join(data), last_id)
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "data":
            data.append(value)
        elif key == "id":
            last_id = value


def refuse_as(as_: str | None) -> None:
    """Through a server, who decides is whom the token names: `--as` cannot change it."""
    if as_ is not None:
        raise RemoteError(
            "--as cannot be used with --server: the server records the user the token belongs to",
            hint=f"decide as another user with that user's token in ${TOKEN_ENV}",
        )


def record(kind: type[R], document: dict[str, Any], **extra: Any) -> R:
    """The store record `kind` from an API document: ISO times parsed, fields the
    document leaves out (not shown by the API) given by `extra` or left empty."""
    values: dict[str, Any] = {}
    for f in fields(kind):  # type: ignore[arg-type]
        if f.name in extra:
            values[f.name] = extra[f.name]
        elif f.name in document:
            value = document[f.name]
            values[f.name] = _parsed(value) if _is_time(f.name) else value
        else:
            values[f.name] = None
    return kind(**values)


def _is_time(name: str) -> bool:
    return name.endswith("_at") or name in ("since", "until", "commit_time")


def _parsed(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _given(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def dump(document: Any) -> None:
    """Print a document as `--json` does locally."""
    print(json.dumps(document, indent=2))


__all__ = [
    "TOKEN_ENV",
    "Event",
    "Remote",
    "RemoteError",
    "connect",
    "dump",
    "parse_events",
    "path",
    "record",
    "refuse_as",
    "seconds",
]

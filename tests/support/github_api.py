"""A fake GitHub REST API on 127.0.0.1, enough for a release action: create a release
(``POST /repos/{owner}/{repo}/releases``) and upload its assets (``POST`` to the release's
``upload_url``), recording every request so a test can check what arrived."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.http import QuietHandler, local_server

_RELEASES = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/releases$")
_ASSETS = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/releases/(?P<id>\d+)/assets$")


@dataclass
class Asset:
    release_id: int
    name: str
    content_type: str
    data: bytes


@dataclass
class FakeGitHub:
    url: str = ""
    releases: list[dict[str, Any]] = field(default_factory=list)  # the request bodies
    assets: list[Asset] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)


@contextmanager
def fake_github() -> Iterator[FakeGitHub]:
    """The fake API for the block; its `url` is what GITHUB_API_URL should be."""
    github = FakeGitHub()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            github.authorizations.append(self.headers.get("Authorization", ""))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = urlsplit(self.path)
            if match := _RELEASES.match(url.path):
                request = json.loads(body)
                github.releases.append(request)
                number, repo = len(github.releases), match["repo"]
                self._reply(
                    201,
                    {
                        "id": number,
                        "tag_name": request.get("tag_name"),
                        "html_url": f"{github.url}/{repo}/releases/tag/{request.get('tag_name')}",
                        "upload_url": f"{github.url}/repos/{repo}/releases/{number}/assets"
                        "{?name,label}",
                    },
                )
            elif (match := _ASSETS.match(url.path)) and int(match["id"]) <= len(github.releases):
                name = parse_qs(url.query).get("name", [""])[0]
                kind = self.headers.get("Content-Type", "")
                github.assets.append(Asset(int(match["id"]), name, kind, body))
                self._reply(201, {"id": len(github.assets), "name": name, "size": len(body)})
            else:
                self._reply(404, {"message": "Not Found"})

        def _reply(self, status: int, data: dict[str, Any]) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    with local_server(Handler) as port:
        github.url = f"http://127.0.0.1:{port}"
        yield github

"""A small npm registry on 127.0.0.1 for tests: packuments and tarballs of packages made
from a few files, and a record of what was asked, so a test sees whether npm came."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote

from tests.support.http import QuietHandler, local_server


def tarball(files: dict[str, str]) -> bytes:
    """A package tarball as `npm pack` lays it out (`package/<path>`)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{path}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Registry:
    """What the registry serves (tarballs by package name and version) and was asked."""

    url: str = ""
    tarballs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def packument(self, name: str) -> dict[str, object] | None:
        versions = {}
        for (package, version), data in self.tarballs.items():
            if package != name:
                continue
            integrity = base64.b64encode(hashlib.sha512(data).digest()).decode()
            versions[version] = {
                "name": name,
                "version": version,
                "dist": {
                    "tarball": f"{self.url}/{name}/-/{name}-{version}.tgz",
                    "shasum": hashlib.sha1(data).hexdigest(),
                    "integrity": f"sha512-{integrity}",
                },
            }
        if not versions:
            return None
        return {"name": name, "dist-tags": {"latest": max(versions)}, "versions": versions}


@contextmanager
def npm_registry(packages: dict[tuple[str, str], dict[str, str]]) -> Iterator[Registry]:
    """Serve `packages` (files by (name, version)) for the block."""
    registry = Registry(tarballs={key: tarball(files) for key, files in packages.items()})

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            path = unquote(self.path.split("?")[0]).strip("/")
            registry.requests.append(path)
            name, _, rest = path.partition("/-/")
            if rest:
                found = [d for (n, v), d in registry.tarballs.items() if rest == f"{n}-{v}.tgz"]
                body, kind = (found[0] if found else None), "application/octet-stream"
            else:
                packument = registry.packument(name)
                body = json.dumps(packument).encode() if packument else None
                kind = "application/json"
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with local_server(Handler) as port:
        registry.url = f"http://127.0.0.1:{port}"
        yield registry

"""The post-receive hook, installed into a real bare repository and run by git itself
against an HTTP server on 127.0.0.1 that checks its signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from stageline.app.githook import install
from stageline.errors import ConfigError
from tests.support.http import QuietHandler, local_server

SECRET = "hook-secret"


Received = list[tuple[str, dict[str, str], bytes]]


class _Recorder(QuietHandler):
    received: ClassVar[Received] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers), body))
        reply = json.dumps({"outcome": "started", "run_ids": [len(self.received)]}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


@pytest.fixture
def server() -> Iterator[tuple[str, Received]]:
    _Recorder.received = []
    with local_server(_Recorder) as port:
        yield f"http://127.0.0.1:{port}", _Recorder.received


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_a_push_to_the_bare_repository_posts_each_ref_signed(
    tmp_path: Path, server: tuple[str, Received]
) -> None:
    url, received = server
    bare = tmp_path / "webapp.git"
    _git(tmp_path, "init", "--quiet", "--bare", str(bare))
    hook = install(bare, url, "webapp", SECRET + "\n")
    assert os.access(hook, os.X_OK)
    assert (bare / "hooks" / "stageline.secret").stat().st_mode & 0o777 == 0o600
    work = tmp_path / "work"
    _git(tmp_path, "init", "--quiet", "-b", "main", str(work))
    (work / "a.txt").write_text("a\n")
    _git(work, "add", ".")
    _git(work, "-c", "user.name=A", "-c", "user.email=a@x", "commit", "-qm", "one")
    sha = _git(work, "rev-parse", "HEAD")
    push = subprocess.run(
        ["git", "push", str(bare), "main", "main:refs/heads/dev"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "stageline: refs/heads/main: started run" in push.stderr
    assert len(received) == 2
    refs = set()
    for path, headers, body in received:
        assert path == "/hooks/git?repo=webapp"
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Stageline-Signature-256"] == f"sha256={expected}"
        assert headers["X-Stageline-Delivery"]
        payload = json.loads(body)
        assert (payload["before"], payload["after"]) == ("0" * 40, sha)
        refs.add(payload["ref"])
    assert refs == {"refs/heads/main", "refs/heads/dev"}


def test_a_push_succeeds_when_the_server_is_down(tmp_path: Path) -> None:
    bare = tmp_path / "webapp.git"
    _git(tmp_path, "init", "--quiet", "--bare", str(bare))
    install(bare, "http://127.0.0.1:9", "webapp", SECRET)
    work = tmp_path / "work"
    _git(tmp_path, "init", "--quiet", "-b", "main", str(work))
    _git(work, "-c", "user.name=A", "-c", "user.email=a@x", "commit", "-qm", "x", "--allow-empty")
    push = subprocess.run(
        ["git", "push", str(bare), "main"], cwd=work, capture_output=True, text=True
    )
    assert push.returncode == 0
    assert "cannot reach http://127.0.0.1:9" in push.stderr


def test_it_installs_only_into_a_bare_repository_and_keeps_a_foreign_hook(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="not a bare git repository"):
        install(tmp_path, "http://127.0.0.1:8750", "webapp", SECRET)
    bare = tmp_path / "b.git"
    _git(tmp_path, "init", "--quiet", "--bare", str(bare))
    (bare / "hooks" / "post-receive").write_text("#!/bin/sh\necho mine\n")
    with pytest.raises(ConfigError, match="not written by stageline"):
        install(bare, "http://127.0.0.1:8750", "webapp", SECRET)
    (bare / "hooks" / "post-receive").unlink()
    install(bare, "http://127.0.0.1:8750", "webapp", SECRET)
    install(bare, "http://127.0.0.1:8751", "webapp", SECRET)  # again: replaced
    assert "8751" in (bare / "hooks" / "post-receive").read_text()

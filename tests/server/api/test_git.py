"""`/git/{repo}.git`: real `git clone` and `git fetch` through a served app."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from stageline.worker.workspaces import with_config
from tests.server.conftest import Live
from tests.support.git import git
from tests.support.server import make_source, wait_until

FILES = {"README.md": "hello\n", "src/app.py": "print('app')\n"}


def _register(live: Live, tmp_path: Path, name: str = "web") -> Path:
    make_source(tmp_path / name, FILES)
    with live.client("admin") as admin:
        added = admin.post("/api/v1/repos", json={"name": name, "url": str(tmp_path / name)})
        assert added.status_code == 201, added.text
    return live.data_dir / "mirrors" / f"{name}.git"


def _git(token: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`git` with the token as a bearer header, passed the way workers pass it."""
    env = with_config(
        {**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        "http.extraHeader",
        f"Authorization: Bearer {token}",
    )
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("version", ["0", "2"])
def test_a_worker_clones_and_fetches_any_commit_of_a_mirror(
    live: Live, tmp_path: Path, version: str
) -> None:
    mirror = _register(live, tmp_path)
    # a commit no ref reaches (as a run's commit after a force push): fetched by its sha
    loose = git(mirror, "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "unreferenced")
    url = f"{live.url}/git/web.git"
    token = live.tokens["worker"]
    proto = ["-c", f"protocol.version={version}"]

    cloned = _git(token, *proto, "clone", "-q", url, str(tmp_path / "clone"))
    assert cloned.returncode == 0, cloned.stderr
    assert (tmp_path / "clone" / "src" / "app.py").read_text() == "print('app')\n"
    assert git(tmp_path / "clone", "rev-parse", "HEAD") == git(mirror, "rev-parse", "HEAD")

    fetched = _git(token, *proto, "fetch", "-q", "origin", loose, cwd=tmp_path / "clone")
    assert fetched.returncode == 0, fetched.stderr
    assert git(tmp_path / "clone", "cat-file", "-t", loose) == "commit"


def test_pushes_viewers_strangers_and_unknown_repositories_are_refused(
    live: Live, tmp_path: Path
) -> None:
    _register(live, tmp_path)
    url = f"{live.url}/git/web.git"
    cloned = _git(live.tokens["admin"], "clone", "-q", url, str(tmp_path / "clone"))
    assert cloned.returncode == 0, cloned.stderr
    clone = tmp_path / "clone"
    git(
        clone,
        "-c",
        "user.name=x",
        "-c",
        "user.email=x@x",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    pushed = _git(live.tokens["worker"], "push", "origin", "HEAD:main", cwd=clone)
    assert pushed.returncode != 0 and "403" in pushed.stderr

    refs = "/git/web.git/info/refs"
    with live.client("worker") as worker:
        answer = worker.get(refs, params={"service": "git-receive-pack"})
        assert answer.status_code == 403 and "read-only" in answer.json()["detail"]
        assert worker.get(refs).status_code == 400  # the dumb protocol is not served
        assert worker.get("/git/web.git/HEAD").status_code == 404
        missing = worker.get("/git/nosuch.git/info/refs", params={"service": "git-upload-pack"})
        assert missing.status_code == 404 and "nosuch" in missing.json()["detail"]
    with live.client("viewer") as viewer:
        assert viewer.get(refs, params={"service": "git-upload-pack"}).status_code == 403
    stranger = _git("slt_forged", "ls-remote", url)
    # git meets the 401 by asking for a user name, which it may not do here
    assert stranger.returncode != 0 and "could not read Username" in stranger.stderr


def _pkt(line: str) -> bytes:
    return f"{len(line) + 4:04x}{line}".encode()


def test_a_gzipped_request_body_is_inflated(live: Live, tmp_path: Path) -> None:
    mirror = _register(live, tmp_path)
    head = git(mirror, "rev-parse", "HEAD")
    request = _pkt(f"want {head} ofs-delta\n") + b"0000" + _pkt("done\n")
    with live.client("worker") as worker:
        answer = worker.post(
            "/git/web.git/git-upload-pack",
            content=gzip.compress(request),
            headers={
                "Content-Type": "application/x-git-upload-pack-request",
                "Content-Encoding": "gzip",
            },
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-git-upload-pack-result"
    assert answer.content.startswith(b"0008NAK\n") and b"PACK" in answer.content


def test_a_pack_larger_than_the_body_limit_streams(live: Live, tmp_path: Path) -> None:
    """The app's body limit is 1 MiB here; a pack of 3 MiB of random data still passes,
    as a stream (the route never holds it whole)."""
    mirror = _register(live, tmp_path)
    big = tmp_path / "web" / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    git(tmp_path / "web", "add", "big.bin")
    git(tmp_path / "web", "commit", "-q", "-m", "big")
    git(mirror, "remote", "update")
    request = _pkt(f"want {git(mirror, 'rev-parse', 'HEAD')}\n") + b"0000" + _pkt("done\n")
    headers = {
        "Authorization": f"Bearer {live.tokens['worker']}",
        "Content-Type": "application/x-git-upload-pack-request",
    }
    with httpx.stream(
        "POST",
        f"{live.url}/git/web.git/git-upload-pack",
        content=request,
        headers=headers,
        timeout=30,
    ) as answer:
        assert answer.status_code == 200
        assert "content-length" not in answer.headers
        size = sum(len(chunk) for chunk in answer.iter_bytes())
    assert size > 3 * 1024 * 1024

    # a client that goes away mid-pack: git is killed and reaped, not left blocked
    with httpx.stream("POST", f"{live.url}/git/web.git/git-upload-pack", content=request,
                      headers=headers, timeout=30) as answer:  # fmt: skip
        assert next(answer.iter_raw())
    wait_until(lambda: not _backends(mirror), "git http-backend and its children to end")


def _backends(mirror: Path) -> list[int]:
    """Git processes serving `mirror`: this process's `git http-backend` children, and
    the upload-pack and pack-objects they start (which run in the mirror)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
            where = os.readlink(entry / "cwd")
        except (OSError, ValueError, IndexError):
            continue
        if (parent == os.getpid() and b"http-backend" in command) or where == str(mirror):
            found.append(int(entry.name))
    return found

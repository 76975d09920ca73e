"""The agent file routes on a served app: who may call, for which attempt, and what an
archive may hold. (The worker's side of the same calls: tests/worker/test_files.py.)"""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

import httpx

from stageline.app.serverdata import open_server
from stageline.store import NewJob, NewRun
from stageline.worker.protocol import (
    ACTION,
    ARTIFACT,
    ARTIFACTS,
    ATTEMPT_HEADER,
    CACHE_ENTRY,
    CACHE_LOOKUP,
    WORKER_HEADER,
)
from tests.server.conftest import Live
from tests.support.server import make_source


def running_attempt(data_dir: Path, repo_path: str = "/elsewhere") -> tuple[int, str]:
    """A run of `repo_path` with one job whose attempt a worker claimed: (run, attempt)."""
    new = NewRun(repo_path, "local/web", "CI", "ci.yml", "push", "refs/heads/main", "a" * 40,
                 "alice", {"jobs": []})  # fmt: skip
    with open_server(data_dir) as server:
        run_id, _ = server.store.runs.create_run(
            new, [NewJob("build", "build", "build", [])], str(data_dir / "logs")
        )
        made = server.store.dispatch.create_attempt(run_id, "build", "default", [])
        assert server.store.dispatch.claim(made.id, "w1", time.time() + 600) is not None
    return run_id, made.id


def agent(attempt: str, worker: str = "w1") -> dict[str, str]:
    """The headers of a file call of `worker` for `attempt`."""
    return {ATTEMPT_HEADER: attempt, WORKER_HEADER: worker}


def register(live: Live, tmp_path: Path, name: str = "web") -> str:
    """Register a repository `name`; its mirror's path (its runs' `repo_path`)."""
    make_source(tmp_path / name, {"a.txt": "a\n"})
    with live.client("admin") as admin:
        added = admin.post("/api/v1/repos", json={"name": name, "url": str(tmp_path / name)})
        assert added.status_code == 201, added.text
    return str(live.data_dir / "mirrors" / f"{name}.git")


def _tar(*members: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for member in members:
            if member.isfile():
                member.size = len(data)
                archive.addfile(member, io.BytesIO(data))
            else:
                archive.addfile(member)
    return out.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_calls_need_a_running_attempt_of_that_run_or_repository(live: Live, tmp_path: Path) -> None:
    mirror = register(live, tmp_path)
    register(live, tmp_path, "other")
    run_id, attempt = running_attempt(live.data_dir, mirror)
    other_run, other = running_attempt(live.data_dir, mirror)
    names = ARTIFACTS.format(run_id=run_id)
    lookup = CACHE_LOOKUP.format(repo="web")
    query = {"version": "v", "key": "k", "restore_keys": []}
    with live.client("worker") as worker:
        assert worker.get(names, headers=agent(attempt)).json() == []
        missing = worker.get(names)
        assert missing.status_code == 400 and ATTEMPT_HEADER in missing.json()["detail"]
        stale = worker.get(names, headers=agent("no-such-attempt"))
        assert stale.status_code == 409 and "not running" in stale.json()["detail"]
        foreign = worker.get(names, headers=agent(other))
        assert foreign.status_code == 403 and f"run {other_run}" in foreign.json()["detail"]
        nameless = worker.get(names, headers={ATTEMPT_HEADER: attempt})
        assert nameless.status_code == 400 and WORKER_HEADER in nameless.json()["detail"]

        assert worker.post(lookup, json=query, headers=agent(attempt)).json() is None
        elsewhere = worker.post(
            CACHE_LOOKUP.format(repo="other"), json=query, headers=agent(attempt)
        )
        assert elsewhere.status_code == 403 and "'other'" in elsewhere.json()["detail"]
        unknown = worker.post(
            CACHE_LOOKUP.format(repo="nosuch"), json=query, headers=agent(attempt)
        )
        assert unknown.status_code == 404

    with open_server(live.data_dir) as server:
        assert server.store.dispatch.finish_attempt(attempt, "w1")
    with live.client("worker") as worker:
        ended = worker.get(names, headers=agent(attempt))
        assert ended.status_code == 409 and attempt in ended.json()["detail"]
    with live.client("viewer") as viewer:
        assert viewer.get(names, headers=agent(other)).status_code == 403
    assert httpx.get(live.url + names, headers=agent(other)).status_code == 401


def test_another_workers_file_calls_for_an_attempt_are_refused(live: Live, tmp_path: Path) -> None:
    """Fencing, as for events: the attempt runs on w1; w2 (the same token and role, its
    own name) may neither read nor write the attempt's files."""
    mirror = register(live, tmp_path)
    run_id, attempt = running_attempt(live.data_dir, mirror)
    theirs = agent(attempt, "w2")
    site = ARTIFACT.format(run_id=run_id, name="site")
    taken = ARTIFACT.format(run_id=run_id, name="taken")
    entry = CACHE_ENTRY.format(repo="web")
    query = {"version": "v", "key": "k", "restore_keys": []}
    with live.client("worker") as worker:
        put = worker.put(site, content=_tar(_member("index.html")), headers=agent(attempt))
        assert put.status_code == 200, put.text
        refused = {
            "names": worker.get(ARTIFACTS.format(run_id=run_id), headers=theirs),
            "download": worker.get(site, headers=theirs),
            "upload": worker.put(taken, content=_tar(_member("f")), headers=theirs),
            "lookup": worker.post(CACHE_LOOKUP.format(repo="web"), json=query, headers=theirs),
            "save": worker.put(
                entry, params={"version": "v", "key": "k"}, content=b"x", headers=theirs
            ),
            "action": worker.get(ACTION.format(owner="acme", name="x", ref="v1"), headers=theirs),
        }
        for call, answer in refused.items():
            assert answer.status_code == 409, (call, answer.text)
            assert "not running on worker w2" in answer.json()["detail"], call
    assert [p.name for p in (live.data_dir / "artifacts" / str(run_id)).iterdir()] == ["site"]


def test_archives_that_reach_outside_or_hold_links_are_refused(live: Live, tmp_path: Path) -> None:
    mirror = register(live, tmp_path)
    run_id, attempt = running_attempt(live.data_dir, mirror)
    headers = agent(attempt)
    artifacts = live.data_dir / "artifacts" / str(run_id)
    bad = {
        "climbs": _tar(_member("../../escaped.txt")),
        "absolute": _tar(_member(str(tmp_path / "absolute.txt"))),
        "symlink": _tar(_member("passwd", tarfile.SYMTYPE, "/etc/passwd")),
        "hardlink": _tar(_member("passwd", tarfile.LNKTYPE, "/etc/passwd")),
        "device": _tar(_member("null", tarfile.CHRTYPE)),
        "garbage": b"not a tarball",
    }
    with live.client("worker") as worker:
        for what, body in bad.items():
            put = worker.put(
                ARTIFACT.format(run_id=run_id, name="a"), content=body, headers=headers
            )
            assert put.status_code == 400, (what, put.text)
            saved = worker.put(
                CACHE_ENTRY.format(repo="web"),
                params={"version": "v", "key": what},
                content=body,
                headers=headers,
            )
            assert saved.status_code == 400, (what, saved.text)
        outside = _tar(_member("etc/passwd"))
        saved = worker.put(
            CACHE_ENTRY.format(repo="web"),
            params={"version": "v", "key": "k"},
            content=outside,
            headers=headers,
        )
        assert saved.status_code == 400 and "ws/ and abs/" in saved.json()["detail"]
        for name in (".hidden", "..", "a\\b"):
            url = ARTIFACT.format(run_id=run_id, name=name)
            put = worker.put(url, content=_tar(_member("f")), headers=headers)
            assert put.status_code in (400, 404), name
        restore = worker.get(
            CACHE_ENTRY.format(repo="web"), params={"location": "../../x"}, headers=headers
        )
        assert restore.status_code == 400
        action = worker.get(ACTION.format(owner="..", name="x", ref="v1"), headers=headers)
        assert action.status_code in (400, 404)
    assert not (live.data_dir / "escaped.txt").exists()
    assert not (tmp_path / "absolute.txt").exists()
    assert not [p for p in artifacts.iterdir() if not p.name.startswith(".")]
    assert [p.name for p in (live.data_dir / "cache").iterdir()] == []


def test_an_upload_over_the_body_limit_streams_to_disk(live: Live, tmp_path: Path) -> None:
    """The app's body limit is 1 MiB here; an artifact of 3 MiB passes, and so does a
    cache entry (written to disk as they arrive), while other routes keep the limit."""
    run_id, attempt = running_attempt(live.data_dir, register(live, tmp_path))
    data = os.urandom(3 * 1024 * 1024)
    headers = agent(attempt)
    with live.client("worker") as worker:
        url = ARTIFACT.format(run_id=run_id, name="big")
        put = worker.put(url, content=_tar(_member("big.bin"), data=data), headers=headers)
        assert put.status_code == 200, put.text
        assert put.json()["meta"]["size"] == len(data)
        saved = worker.put(
            CACHE_ENTRY.format(repo="web"),
            params={"version": "v", "key": "big"},
            content=_tar(_member("ws/big.bin"), data=data),
            headers=headers,
        )
        assert saved.status_code == 200 and saved.json() == {"files": 1}
        with worker.stream("GET", url, headers=headers) as answer:
            assert answer.status_code == 200
            got = b"".join(answer.iter_bytes())
    with tarfile.open(fileobj=io.BytesIO(got), mode="r:gz") as archive:
        member = archive.extractfile("big.bin")
        assert member is not None and member.read() == data
    with live.client("admin") as admin:
        big = admin.post("/api/v1/repos", content=b"x" * (2 * 1024 * 1024))
        assert big.status_code == 413


def test_a_name_taken_is_412_and_overwrite_replaces_it(live: Live, tmp_path: Path) -> None:
    run_id, attempt = running_attempt(live.data_dir)
    url = ARTIFACT.format(run_id=run_id, name="site")
    headers = agent(attempt)
    with live.client("worker") as worker:
        first = worker.put(url, content=_tar(_member("index.html"), data=b"1"), headers=headers)
        assert first.status_code == 200, first.text
        path = Path(first.json()["path"])
        assert path == live.data_dir / "artifacts" / str(run_id) / "site"
        assert (path / "files" / "index.html").read_bytes() == b"1"
        taken = worker.put(url, content=_tar(_member("index.html")), headers=headers)
        assert taken.status_code == 412 and "already exists" in taken.json()["detail"]
        replaced = worker.put(
            url,
            params={"overwrite": "true", "meta": '{"job": "build"}'},
            content=_tar(_member("index.html"), data=b"22"),
            headers=headers,
        )
        assert replaced.json()["meta"] == {"job": "build", "files": 1, "size": 2}
        gone = worker.get(ARTIFACT.format(run_id=run_id, name="nosuch"), headers=headers)
        assert gone.status_code == 404

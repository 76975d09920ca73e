"""The files a worker's job sends and takes (ADR 0012): the run's artifacts, the
repository's cache, remote actions. Rule `agent`.

Each call names its attempt (`ATTEMPT_HEADER`) and its worker (`WORKER_HEADER`), and is
answered only while that attempt is `running` on that worker (409 otherwise, fencing as
for events: the worker stops the job) and belongs to the run of the path (artifacts) or
to a run of the repository (cache); 403 for another's. Bodies are
tar.gz, spooled to a file as they arrive and extracted from it (`worker.files.unpack`:
no member outside its directory, no link, no special file), or packed into a file and
streamed from it: no archive is held in memory.

The files land where the engine puts those of the server's local jobs (`RunLayout`
under the store's home, the data dir): `artifacts/<run>/<name>/` and `cache/<digest>/`,
written by `runner.places` as the local executor writes them, so a run's local and
remote jobs share its artifacts and cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from stageline.app.serverdata import ServerData
from stageline.engine.layout import RunLayout
from stageline.runner import places
from stageline.runner.ports import ArtifactError
from stageline.server.auth import Agent
from stageline.server.problems import NotFound
from stageline.server.state import MAX_ID, Server
from stageline.store.worker_records import AttemptRow
from stageline.worker import protocol
from stageline.worker.files import UnsafeArchive, pack_tree, unpack
from stageline.worker.protocol import ATTEMPT_HEADER, WORKER_HEADER

router = APIRouter(tags=["workers"])

_TAR_GZ = "application/gzip"
_LOCATION = re.compile(r"^[0-9a-f]{40}$")
_ACTION_PART = re.compile(r"^[\w.-]+$")
RunId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="The run's id.")]


def _running(server: ServerData, attempt: str | None, worker: str | None) -> AttemptRow:
    if not attempt:
        raise HTTPException(400, f"send the {ATTEMPT_HEADER} header: the attempt of this call")
    if not worker:
        raise HTTPException(400, f"send the {WORKER_HEADER} header: the worker's name")
    found = server.store.dispatch.running_attempt(attempt)
    if found is None:
        raise HTTPException(
            409, f"attempt {attempt} is not running (it ended, was lost or never claimed)"
        )
    if found.worker != worker:
        raise HTTPException(409, f"attempt {attempt} is not running on worker {worker}")
    return found


async def running_attempt(
    server: Server,
    attempt: Annotated[str | None, Header(alias=ATTEMPT_HEADER)] = None,
    worker: Annotated[str | None, Header(alias=WORKER_HEADER)] = None,
) -> AttemptRow:
    """The call's attempt, which must be `running` on the calling worker (400 without
    the headers, 409 when stale or another worker's)."""
    return await run_in_threadpool(_running, server, attempt, worker)


Attempt = Annotated[AttemptRow, Depends(running_attempt)]


def _of_run(attempt: AttemptRow, run_id: int) -> None:
    if attempt.run_id != run_id:
        raise HTTPException(
            403, f"attempt {attempt.id} is a job of run {attempt.run_id}, not of run {run_id}"
        )


def _layout(server: ServerData, run_id: int) -> RunLayout:
    return RunLayout(Path(server.store.home), run_id)


def _cache_dir(server: ServerData, attempt: AttemptRow, repo: str) -> str:
    """The cache the attempt's repository uses; 403 when the attempt is another's."""
    row = server.store.server.get_repo(repo)
    if row is None:
        raise NotFound(f"no repository named {repo!r} is registered")
    run = server.store.runs.find_run(attempt.run_id)
    if run is None or run.repo_path != row.mirror_path:
        raise HTTPException(403, f"attempt {attempt.id} is not a job of repository {repo!r}")
    return _layout(server, attempt.run_id).cache_dir


def _entry_name(version: str, key: str) -> str:
    """The directory of an entry, named as `runner.places.save_entry` names it."""
    return hashlib.sha256(f"{version}\0{key}".encode()).hexdigest()[:40]


def _check_name(name: str) -> str:
    if name in ("", ".", "..") or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise HTTPException(400, f"invalid artifact name {name!r}")
    return name


async def _spool(request: Request, directory: str) -> Path:
    """The request body in a new file in `directory` (a name starting with a dot)."""
    os.makedirs(directory, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".upload-", suffix=".tar.gz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                await run_in_threadpool(out.write, chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _send_file(path: Path, filename: str) -> FileResponse:
    """Stream `path` (a temporary archive), removed once sent."""
    return FileResponse(
        path, media_type=_TAR_GZ, filename=filename, background=BackgroundTask(path.unlink)
    )


def _packed(directory: str, build: Any) -> Path:
    """A new temporary archive in `directory`, written by `build(path)`."""
    os.makedirs(directory, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".download-", suffix=".tar.gz", dir=directory)
    os.close(fd)
    try:
        build(Path(name))
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


# -- artifacts -------------------------------------------------------------------------


class StoredArtifact(BaseModel):
    #: The artifact's metadata as the local executor writes it (files and size added).
    meta: dict[str, Any]
    #: Where the server keeps it (what the `artifact.uploaded` event records).
    path: str


@router.get(protocol.ARTIFACTS, response_model=list[str])
async def artifact_names(
    run_id: RunId, principal: Agent, attempt: Attempt, server: Server
) -> list[str]:
    """The names of the run's complete artifacts, sorted."""
    _of_run(attempt, run_id)
    return places.artifact_names(_layout(server, run_id).artifacts_dir)


@router.put(protocol.ARTIFACT, response_model=StoredArtifact)
async def upload_artifact(
    run_id: RunId,
    name: str,
    request: Request,
    principal: Agent,
    attempt: Attempt,
    server: Server,
    merge: bool = False,
    overwrite: bool = False,
    meta: Annotated[str, Query(description="The artifact's metadata, JSON.")] = "{}",
) -> StoredArtifact:
    """Store the tar.gz body as the artifact `name`, atomically (412: the name is taken)."""
    _of_run(attempt, run_id)
    _check_name(name)
    try:
        fields = json.loads(meta)
    except ValueError as err:
        raise HTTPException(400, f"meta: not JSON: {err}") from err
    if not isinstance(fields, dict):
        raise HTTPException(400, "meta: a JSON object is needed")
    directory = _layout(server, run_id).artifacts_dir
    spooled = await _spool(request, directory)
    try:
        stored = await run_in_threadpool(
            _store_artifact, directory, name, spooled, fields, merge, overwrite
        )
    finally:
        spooled.unlink()
    return StoredArtifact(meta=stored, path=os.path.join(directory, name))


def _store_artifact(
    directory: str, name: str, archive: Path, meta: dict[str, Any], merge: bool, overwrite: bool
) -> dict[str, Any]:
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=directory))
    try:
        files = unpack(archive, staging)
        return places.store_artifact(directory, name, str(staging), files, meta, merge, overwrite)
    except UnsafeArchive as err:
        raise HTTPException(400, str(err)) from err
    except ArtifactError as err:
        raise HTTPException(412, str(err)) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@router.get(protocol.ARTIFACT, response_class=FileResponse)
async def download_artifact(
    run_id: RunId, name: str, principal: Agent, attempt: Attempt, server: Server
) -> FileResponse:
    """The artifact's files as tar.gz."""
    _of_run(attempt, run_id)
    directory = _layout(server, run_id).artifacts_dir
    files = os.path.join(directory, _check_name(name), "files")
    if not os.path.isdir(files):
        raise NotFound(f"run {run_id} has no artifact {name!r}")
    archive = await run_in_threadpool(_packed, directory, lambda p: pack_tree(files, p))
    return _send_file(archive, f"{name}.tar.gz")


# -- cache -----------------------------------------------------------------------------


class CacheQuery(BaseModel):
    version: str = Field(max_length=200)
    key: str = Field(max_length=512)
    restore_keys: list[str] = Field(default_factory=list, max_length=100)


class CacheHit(BaseModel):
    key: str
    version: str
    created: float
    #: The entry's name on the server (`GET CACHE_ENTRY?location=`).
    location: str


class CacheSaved(BaseModel):
    #: Files saved; None when an entry of that key and version exists (keys are immutable).
    files: int | None


@router.post(protocol.CACHE_LOOKUP, response_model=CacheHit | None)
async def cache_lookup(
    repo: str, body: CacheQuery, principal: Agent, attempt: Attempt, server: Server
) -> CacheHit | None:
    """The entry a restore would use (exact key, else the newest by prefix), or null."""

    def find() -> CacheHit | None:
        cache_dir = _cache_dir(server, attempt, repo)
        entry = places.lookup(cache_dir, body.version, body.key, body.restore_keys)
        if entry is None:
            return None
        return CacheHit(
            key=entry.key,
            version=entry.version,
            created=entry.created,
            location=os.path.basename(entry.location),
        )

    return await run_in_threadpool(find)


@router.put(protocol.CACHE_ENTRY, response_model=CacheSaved)
async def cache_save(
    repo: str,
    request: Request,
    principal: Agent,
    attempt: Attempt,
    server: Server,
    version: Annotated[str, Query(max_length=200)],
    key: Annotated[str, Query(max_length=512)],
    paths: Annotated[str, Query(description="The patterns saved, JSON.")] = "[]",
) -> CacheSaved:
    """Save the tar.gz body (an entry's `ws/` and `abs/` trees) as the entry `key`."""
    cache_dir = await run_in_threadpool(_cache_dir, server, attempt, repo)
    try:
        patterns = [str(p) for p in json.loads(paths)]
    except (ValueError, TypeError) as err:
        raise HTTPException(400, f"paths: not a JSON list: {err}") from err
    if os.path.exists(os.path.join(cache_dir, _entry_name(version, key))):
        return CacheSaved(files=None)
    spooled = await _spool(request, cache_dir)
    try:
        saved = await run_in_threadpool(_save_entry, cache_dir, version, key, patterns, spooled)
    finally:
        spooled.unlink()
    return CacheSaved(files=saved)


def _save_entry(
    cache_dir: str, version: str, key: str, patterns: list[str], archive: Path
) -> int | None:
    """The entry in the layout of `runner.places.save_entry`, staged then renamed."""
    staging = Path(tempfile.mkdtemp(prefix=".entry-", dir=cache_dir))
    try:
        try:
            files = unpack(archive, staging / "files")
        except UnsafeArchive as err:
            raise HTTPException(400, str(err)) from err
        outside = [f for f in files if Path(f).parts[0] not in ("ws", "abs")]
        if outside:
            raise HTTPException(400, f"a cache entry holds ws/ and abs/ only, not {outside[0]!r}")
        entry = {
            "key": key,
            "version": version,
            "created": time.time(),
            "paths": patterns,
            "files": len(files),
        }
        (staging / "entry.json").write_text(json.dumps(entry), encoding="utf-8")
        try:
            staging.rename(os.path.join(cache_dir, _entry_name(version, key)))
        except OSError:
            return None  # saved meanwhile by another job
        return len(files)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@router.get(protocol.CACHE_ENTRY, response_class=FileResponse)
async def cache_restore(
    repo: str,
    principal: Agent,
    attempt: Attempt,
    server: Server,
    location: Annotated[str, Query(description="A lookup's `location`.")],
) -> FileResponse:
    """The entry's files (`ws/` and `abs/`) as tar.gz."""
    cache_dir = await run_in_threadpool(_cache_dir, server, attempt, repo)
    if not _LOCATION.match(location):
        raise HTTPException(400, f"invalid cache location {location!r}")
    files = os.path.join(cache_dir, location, "files")
    if not os.path.isdir(files):
        raise NotFound(f"no cache entry {location} in repository {repo!r}")
    archive = await run_in_threadpool(_packed, cache_dir, lambda p: pack_tree(files, p))
    return _send_file(archive, f"{location}.tar.gz")


# -- actions ---------------------------------------------------------------------------


@router.get(protocol.ACTION, response_class=FileResponse)
async def action(
    owner: str, name: str, ref: str, principal: Agent, attempt: Attempt, server: Server
) -> FileResponse:
    """The action `owner/name@ref` from the server's action cache (fetched first when the
    cache lacks it and the server is online), as tar.gz of its repository's tree."""
    from stageline.runner.actions import remote

    for part in (owner, name, ref):
        if not _ACTION_PART.match(part) or part in (".", ".."):
            raise HTTPException(400, f"invalid action part {part!r}")
    wanted = remote.parse(f"{owner}/{name}@{ref}")
    assert wanted is not None
    try:
        fetched = await run_in_threadpool(remote.fetch, wanted, prefer_cache=True)
    except remote.FetchError as err:
        raise NotFound(str(err)) from err
    tmp = str(Path(server.data_dir) / "tmp")
    archive = await run_in_threadpool(
        _packed, tmp, lambda p: pack_tree(fetched.directory, p, dereference=False)
    )
    return _send_file(archive, f"{name}@{ref}.tar.gz")


__all__ = ["router", "running_attempt"]

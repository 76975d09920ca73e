"""A worker's artifacts, cache and remote actions, through the server (ADR 0012).

The runner's `ArtifactStore` and `CacheStore` ports over the agent file routes
(`protocol.ARTIFACT`, `CACHE_LOOKUP`, `CACHE_ENTRY`): files cross as tar.gz, packed into
and unpacked from a temporary file, so neither side holds an archive in memory. The
server keeps them with the local executor's layouts (`runner.places`), so a run's local
and remote jobs share its artifacts and its repository's cache. `fetch_actions` puts a
job's remote actions, from the server's action cache, where the runner looks for
vendored actions. Every call sends `ATTEMPT_HEADER`: the server answers only a
`running` attempt.

`pack` and `unpack` are shared with the server's side (`server.api.agent_files`):
`unpack` refuses a member that is absolute, climbs out with `..`, or (unless
`links`) is a link, and a special file always.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from stageline.errors import RunError
from stageline.runner import places
from stageline.runner.ports import ArtifactError, CacheEntry
from stageline.worker.protocol import (
    ACTION,
    ARTIFACT,
    ARTIFACTS,
    ATTEMPT_HEADER,
    CACHE_ENTRY,
    CACHE_LOOKUP,
)

_CHUNK = 256 * 1024
#: `uses: OWNER/REPO[/PATH]@REF` (the form the server's action cache serves).
_USES = re.compile(r"^(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)(?:/[^@]+)?@(?P<ref>[^/]+)$")


class UnsafeArchive(ValueError):
    """A tar member that would land outside its directory, or is not a plain file."""


def pack(root: str | Path, files: Sequence[str], out: Path, *, dereference: bool = True) -> None:
    """Write `files` (paths relative to `root`, directories recursively) to `out` as
    tar.gz; links are followed unless `dereference` is false."""
    with tarfile.open(out, "w:gz", dereference=dereference, compresslevel=6) as archive:
        for name in files:
            archive.add(os.path.join(root, name), arcname=name)


def pack_tree(root: str | Path, out: Path, *, dereference: bool = True) -> None:
    """Everything under `root` as tar.gz at `out`."""
    pack(
        root, sorted(os.listdir(root)) if os.path.isdir(root) else [], out, dereference=dereference
    )


def unpack(archive_path: Path, dest: Path, *, links: bool = False) -> list[str]:
    """Extract `archive_path` into `dest`; the regular files extracted (relative paths).
    Raises `UnsafeArchive` (see the module doc) before extracting anything."""
    files: list[str] = []
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            members = archive.getmembers()
            for member in members:
                _check_member(member, links)
                if member.isfile():
                    files.append(os.path.normpath(member.name))
            dest.mkdir(parents=True, exist_ok=True)
            archive.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as err:
        raise UnsafeArchive(f"unsafe archive member: {err}") from err
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise UnsafeArchive(f"not a tar.gz archive: {err}") from err
    return files


def _check_member(member: tarfile.TarInfo, links: bool) -> None:
    name = member.name
    parts = Path(name).parts
    if not name or "\0" in name or name.startswith(("/", "\\")) or ".." in parts:
        raise UnsafeArchive(f"unsafe archive member {name!r}: it would land outside")
    if member.isfile() or member.isdir():
        return
    if links and (member.issym() or member.islnk()):
        return
    raise UnsafeArchive(f"unsafe archive member {name!r}: not a plain file or directory")


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, _CHUNK):
            yield chunk


class Refused(Exception):
    """The server refused a call or could not be reached; the message says why."""


async def _download(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    to: Path,
    params: dict[str, str] | None = None,
) -> None:
    """GET `url` into the file `to`, a chunk at a time. Raises `Refused`."""
    try:
        async with http.stream("GET", url, headers=headers, params=params) as answer:
            if answer.status_code != 200:
                await answer.aread()
                raise Refused(_problem(answer))
            with open(to, "wb") as out:
                async for chunk in answer.aiter_bytes(_CHUNK):
                    await asyncio.to_thread(out.write, chunk)
    except httpx.HTTPError as err:
        raise Refused(f"cannot reach the server: {err}") from err


async def _send(
    http: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], **kwargs: Any
) -> Any:
    """The JSON answer of a call that must answer 200. Raises `Refused`."""
    try:
        answer = await http.request(method, url, headers=headers, **kwargs)
    except httpx.HTTPError as err:
        raise Refused(f"cannot reach the server: {err}") from err
    if answer.status_code != 200:
        raise Refused(_problem(answer))
    return answer.json()


def _problem(answer: httpx.Response) -> str:
    """The server's own words for a refusal (problem+json `detail`), else the status."""
    with suppress(ValueError):
        detail = answer.json().get("detail")
        if detail:
            return f"{detail} (HTTP {answer.status_code})"
    return f"the server answered HTTP {answer.status_code} {answer.reason_phrase}"


class _Scratch:
    """A private temporary directory, removed when the block ends."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="stageline-files-"))
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# -- artifacts -------------------------------------------------------------------------


class RemoteArtifacts:
    """The run's artifacts on the server (`runner.ports.ArtifactStore`)."""

    __slots__ = ("_headers", "_http", "_run_id")

    def __init__(self, http: httpx.AsyncClient, run_id: int, attempt: str) -> None:
        self._http = http
        self._run_id = run_id
        self._headers = {ATTEMPT_HEADER: attempt}

    def _url(self, name: str) -> str:
        return ARTIFACT.format(run_id=self._run_id, name=quote(name, safe=""))

    async def upload(
        self,
        name: str,
        root: str,
        files: list[str],
        meta: dict[str, Any],
        merge: bool,
        overwrite: bool,
    ) -> tuple[dict[str, Any], str]:
        with _Scratch() as scratch:
            archive = scratch / "artifact.tar.gz"
            await asyncio.to_thread(pack, root, files, archive)
            try:
                stored = await _send(
                    self._http,
                    "PUT",
                    self._url(name),
                    {**self._headers, "Content-Type": "application/gzip"},
                    params={
                        "merge": str(merge).lower(),
                        "overwrite": str(overwrite).lower(),
                        "meta": json.dumps(meta),
                    },
                    content=_chunks(archive),
                )
            except Refused as err:
                raise ArtifactError(str(err)) from err
        return dict(stored["meta"]), str(stored["path"])

    async def names(self) -> list[str]:
        url = ARTIFACTS.format(run_id=self._run_id)
        try:
            return [str(n) for n in await _send(self._http, "GET", url, self._headers)]
        except Refused as err:
            raise ArtifactError(str(err)) from err

    async def download(self, name: str, dest: str) -> None:
        with _Scratch() as scratch:
            archive = scratch / "artifact.tar.gz"
            try:
                await _download(self._http, self._url(name), self._headers, archive)
                await asyncio.to_thread(unpack, archive, Path(dest))
            except (Refused, UnsafeArchive) as err:
                raise ArtifactError(f"artifact '{name}': {err}") from err


# -- cache -----------------------------------------------------------------------------


class CacheError(RunError):
    """A cache call the server refused or could not answer (the step fails with it)."""


class RemoteCache:
    """The repository's cache entries on the server (`runner.ports.CacheStore`).
    An entry's `location` is its name on the server."""

    __slots__ = ("_headers", "_http", "_repo")

    def __init__(self, http: httpx.AsyncClient, repo: str, attempt: str) -> None:
        self._http = http
        self._repo = quote(repo, safe="")
        self._headers = {ATTEMPT_HEADER: attempt}

    async def lookup(self, version: str, key: str, restore_keys: list[str]) -> CacheEntry | None:
        body = {"version": version, "key": key, "restore_keys": restore_keys}
        url = CACHE_LOOKUP.format(repo=self._repo)
        try:
            found = await _send(self._http, "POST", url, self._headers, json=body)
        except Refused as err:
            raise CacheError(f"cache lookup of '{key}': {err}") from err
        if found is None:
            return None
        return CacheEntry(
            str(found["key"]), str(found["version"]), float(found["created"]), found["location"]
        )

    async def restore(self, entry: CacheEntry, workspace: str) -> None:
        with _Scratch() as scratch:
            archive = scratch / "entry.tar.gz"
            url = CACHE_ENTRY.format(repo=self._repo)
            params = {"location": entry.location}
            try:
                await _download(self._http, url, self._headers, archive, params)
                await asyncio.to_thread(unpack, archive, scratch / "entry" / "files")
            except (Refused, UnsafeArchive) as err:
                raise CacheError(f"cache entry '{entry.key}': {err}") from err
            local = CacheEntry(entry.key, entry.version, entry.created, str(scratch / "entry"))
            await asyncio.to_thread(places.restore_entry, local, workspace)

    async def save(self, version: str, key: str, patterns: list[str], workspace: str) -> int | None:
        with _Scratch() as scratch:
            # the local executor's matching and layout, then that entry's files/ sent
            count = await asyncio.to_thread(
                places.save_entry, str(scratch / "cache"), version, key, patterns, workspace
            )
            [entry] = [p for p in (scratch / "cache").iterdir() if not p.name.startswith(".")]
            archive = scratch / "entry.tar.gz"
            await asyncio.to_thread(pack_tree, entry / "files", archive)
            try:
                saved = await _send(
                    self._http,
                    "PUT",
                    CACHE_ENTRY.format(repo=self._repo),
                    {**self._headers, "Content-Type": "application/gzip"},
                    params={"version": version, "key": key, "paths": json.dumps(patterns)},
                    content=_chunks(archive),
                )
            except Refused as err:
                raise CacheError(f"cache save of '{key}': {err}") from err
        return None if saved["files"] is None else count


# -- actions ---------------------------------------------------------------------------


class ActionError(RunError):
    """An action the server could not give (the message says which and why)."""


async def fetch_actions(
    http: httpx.AsyncClient, attempt: str, uses: Sequence[str], dest: Path
) -> None:
    """Put each remote `OWNER/REPO[/PATH]@REF` of `uses` into `dest/OWNER/REPO@REF/`, the
    layout of a vendored action, from the server's action cache, then likewise the remote
    actions those use (composite actions). Built-in, local and container actions, a
    `https://host/...` one, a REF with a slash and an expression are skipped (the runner
    fetches or refuses those itself), and so is one already there. Raises `ActionError`
    (a `RunError`) for an action the server cannot give."""
    from stageline.runner.actions import BUILTIN, local

    seen: set[str] = set()
    todo = list(uses)
    while todo:
        name = todo.pop(0).strip()
        match = _USES.match(name)
        if name in seen or match is None or "${{" in name:
            continue
        seen.add(name)
        owner, repo, ref = match["owner"], match["repo"], match["ref"]
        sub = name[len(owner) + len(repo) + 2 : -len(ref) - 1].strip("/")
        if f"{owner}/{repo}{'/' + sub if sub else ''}".lower() in BUILTIN:
            continue
        target = dest / owner / f"{repo}@{ref}"
        if not target.is_dir():
            await _fetch_action(http, attempt, owner, repo, ref, target)
        directory = target / sub if sub else target
        if directory.is_dir():
            todo.extend(local.nested_uses(str(directory)))


async def _fetch_action(
    http: httpx.AsyncClient, attempt: str, owner: str, repo: str, ref: str, target: Path
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{repo}@", dir=target.parent))
    try:
        archive = staging / "action.tar.gz"
        url = ACTION.format(owner=owner, name=repo, ref=quote(ref, safe=""))
        try:
            await _download(http, url, {ATTEMPT_HEADER: attempt}, archive)
            await asyncio.to_thread(unpack, archive, staging / "tree", links=True)
        except (Refused, UnsafeArchive) as err:
            raise ActionError(f"action '{owner}/{repo}@{ref}': {err}") from err
        try:
            (staging / "tree").rename(target)
        except OSError:  # another job of this worker put it there first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


__all__ = [
    "ActionError",
    "CacheError",
    "Refused",
    "RemoteArtifacts",
    "RemoteCache",
    "UnsafeArchive",
    "fetch_actions",
    "pack",
    "pack_tree",
    "unpack",
]

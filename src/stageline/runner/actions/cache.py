"""`actions/cache` (and `actions/cache/restore`, `actions/cache/save`) on a local directory.

Rules as GitHub documents them: an entry is identified by its ``key`` and a *version*
derived from the ``path`` list, so a restore only sees entries saved with the same paths.
Restore tries the exact key (``cache-hit: 'true'``), then entries whose key starts with the
key, then each ``restore-keys`` line as a prefix in order, newest entry first
(``cache-hit: 'false'`` for these partial hits). The save runs as a post step, only when
the job succeeded and the key was not an exact hit; keys are immutable (an existing entry
is not replaced). Keys may not contain commas and are at most 512 characters.

Layout: ``<cache_dir>/<digest>/entry.json`` and ``files/ws/...`` (paths in the workspace)
plus ``files/abs/...`` (absolute paths such as ``~/.npm``), written atomically.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from stageline.runner.actions.call import ActionCall
from stageline.runner.globs import match_files
from stageline.runner.state import PostStep, Scope, StepOutcome
from stageline.runner.workspace import remove_tree
from stageline.runs.states import Conclusion

MAX_KEY = 512


class CacheError(Exception):
    pass


def version_of(paths: list[str]) -> str:
    return hashlib.sha256("|".join([*paths, "stageline-copy"]).encode()).hexdigest()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def check_key(key: str) -> None:
    if not key:
        raise CacheError("Input required and not supplied: key")
    if len(key) > MAX_KEY:
        raise CacheError(f"Key Validation Error: {key} cannot be larger than {MAX_KEY} characters.")
    if "," in key:
        raise CacheError(f"Key Validation Error: {key} cannot contain commas.")


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    version: str
    created: float
    directory: str


def entries(cache_dir: str, version: str) -> list[Entry]:
    found: list[Entry] = []
    if not os.path.isdir(cache_dir):
        return found
    for name in os.listdir(cache_dir):
        meta_path = os.path.join(cache_dir, name, "entry.json")
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            continue
        if meta.get("version") == version:
            found.append(Entry(meta["key"], version, meta["created"], os.path.dirname(meta_path)))
    return found


def lookup(cache_dir: str, version: str, key: str, restore_keys: list[str]) -> Entry | None:
    """The entry a restore would use (see the module docstring for the order)."""
    candidates = sorted(entries(cache_dir, version), key=lambda e: e.created, reverse=True)
    for entry in candidates:
        if entry.key == key:
            return entry
    for prefix in [key, *restore_keys]:
        for entry in candidates:
            if entry.key.startswith(prefix):
                return entry
    return None


def _split(path: str, workspace: str) -> str:
    """Where `path` is kept inside an entry's files/ directory."""
    if path.startswith(workspace + os.sep):
        return os.path.join("ws", os.path.relpath(path, workspace))
    return os.path.join("abs", path.lstrip(os.sep))


def save_entry(
    cache_dir: str, version: str, key: str, patterns: list[str], workspace: str
) -> int | None:
    """Store the files `patterns` match; the number of files, or None if the key exists."""
    os.makedirs(cache_dir, exist_ok=True)
    final = os.path.join(cache_dir, hashlib.sha256(f"{version}\0{key}".encode()).hexdigest()[:40])
    if os.path.exists(final):
        return None
    staging = tempfile.mkdtemp(prefix=".entry-", dir=cache_dir)
    try:
        files = match_files(patterns, workspace)
        for path in files:
            dest = os.path.join(staging, "files", _split(path, workspace))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(path, dest)
        with open(os.path.join(staging, "entry.json"), "w", encoding="utf-8") as f:
            json.dump(
                {
                    "key": key,
                    "version": version,
                    "created": time.time(),
                    "paths": patterns,
                    "files": len(files),
                },
                f,
            )
        try:
            os.rename(staging, final)
        except OSError:
            return None
        return len(files)
    finally:
        remove_tree(staging)


def restore_entry(entry: Entry, workspace: str) -> None:
    files = os.path.join(entry.directory, "files")
    if os.path.isdir(os.path.join(files, "ws")):
        shutil.copytree(os.path.join(files, "ws"), workspace, dirs_exist_ok=True)
    if os.path.isdir(os.path.join(files, "abs")):
        shutil.copytree(os.path.join(files, "abs"), os.sep, dirs_exist_ok=True)


@dataclass(frozen=True, slots=True)
class Request:
    key: str
    paths: list[str]
    restore_keys: list[str]
    version: str


def _request(call: ActionCall) -> Request:
    key = call.input("key").strip()
    check_key(key)
    paths = [os.path.expanduser(p) for p in _lines(call.input("path"))]
    if not paths:
        raise CacheError("Input required and not supplied: path")
    restore_keys = _lines(call.input("restore-keys"))
    return Request(key, paths, restore_keys, version_of(paths))


async def _restore(call: ActionCall, req: Request) -> tuple[StepOutcome, bool]:
    state = call.state
    entry = await asyncio.to_thread(
        lookup, state.request.cache_dir, req.version, req.key, req.restore_keys
    )
    outputs: dict[str, Any] = {"cache-primary-key": req.key}
    if entry is None:
        call.log(f"Cache not found for input keys: {', '.join([req.key, *req.restore_keys])}")
        if call.flag("fail-on-cache-miss", False):
            state.error(
                call.scope,
                "Failed to restore cache entry. Exiting as "
                "fail-on-cache-miss is set. Input key: " + req.key,
            )
            return StepOutcome.failed(outputs={"cache-hit": "false", **outputs}), False
        return StepOutcome(Conclusion.SUCCESS, outputs={"cache-hit": "false", **outputs}), False
    exact = entry.key == req.key
    if not call.flag("lookup-only", False):
        await asyncio.to_thread(restore_entry, entry, state.ws.workspace)
        call.log(f"Cache restored from key: {entry.key}")
    else:
        call.log(f"Cache found and can be restored from key: {entry.key}")
    outputs.update({"cache-hit": "true" if exact else "false", "cache-matched-key": entry.key})
    return StepOutcome(Conclusion.SUCCESS, outputs=outputs), exact


async def _save(call: ActionCall, req: Request, scope: Scope) -> StepOutcome:
    state = call.state
    count = await asyncio.to_thread(
        save_entry, state.request.cache_dir, req.version, req.key, req.paths, state.ws.workspace
    )
    if count is None:
        state.warning(
            scope,
            f"Failed to save: Unable to reserve cache with key {req.key}, "
            "another job may be creating this cache.",
        )
    elif count == 0:
        state.warning(
            scope,
            "Path Validation Error: Path(s) specified in the action for "
            "caching do(es) not exist, hence no cache is being saved.",
        )
    else:
        scope.log.write(f"Cache saved with key: {req.key} ({count} file(s))")
    return StepOutcome(Conclusion.SUCCESS)


def _fail(call: ActionCall, err: CacheError) -> StepOutcome:
    call.state.error(call.scope, f"{call.step.uses}: {err}")
    return StepOutcome.failed()


async def run(call: ActionCall) -> StepOutcome:
    """actions/cache: restore now, save in a post step."""
    try:
        req = _request(call)
    except CacheError as err:
        return _fail(call, err)
    outcome, exact = await _restore(call, req)
    if outcome.outcome == Conclusion.SUCCESS and not exact and not call.flag("lookup-only", False):

        async def post(scope: Scope) -> StepOutcome:
            return await _save(call, req, scope)

        call.state.post_steps.append(PostStep(f"Post {call.step.display_name}", "success()", post))
    return outcome


async def restore(call: ActionCall) -> StepOutcome:
    try:
        req = _request(call)
    except CacheError as err:
        return _fail(call, err)
    return (await _restore(call, req))[0]


async def save(call: ActionCall) -> StepOutcome:
    try:
        req = _request(call)
    except CacheError as err:
        return _fail(call, err)
    return await _save(call, req, call.scope)

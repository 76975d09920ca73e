"""`actions/cache` (and `actions/cache/restore`, `actions/cache/save`).

Rules as GitHub documents them: an entry is identified by its ``key`` and a *version*
derived from the ``path`` list, so a restore only sees entries saved with the same paths.
Restore tries the exact key (``cache-hit: 'true'``), then entries whose key starts with the
key, then each ``restore-keys`` line as a prefix in order, newest entry first
(``cache-hit: 'false'`` for these partial hits). The save runs as a post step, only when
the job succeeded and the key was not an exact hit; keys are immutable (an existing entry
is not replaced). Keys may not contain commas and are at most 512 characters.

Entries live in the job's `CacheStore` (locally a directory per repository, see
`stageline.runner.places`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from stageline.runner.actions.call import ActionCall
from stageline.runner.state import PostStep, Scope, StepOutcome
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
    entry = await state.ports.cache.lookup(req.version, req.key, req.restore_keys)
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
        await state.ports.cache.restore(entry, state.ws.workspace)
        call.log(f"Cache restored from key: {entry.key}")
    else:
        call.log(f"Cache found and can be restored from key: {entry.key}")
    outputs.update({"cache-hit": "true" if exact else "false", "cache-matched-key": entry.key})
    return StepOutcome(Conclusion.SUCCESS, outputs=outputs), exact


async def _save(call: ActionCall, req: Request, scope: Scope) -> StepOutcome:
    state = call.state
    try:
        count = await state.ports.cache.save(req.version, req.key, req.paths, state.ws.workspace)
    except PermissionError as err:  # as GitHub, a save that cannot be made is a warning
        state.warning(scope, f"Failed to save: {err}")
        return StepOutcome(Conclusion.SUCCESS)
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

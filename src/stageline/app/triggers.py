"""Events in, runs out: what the server does with a push, a pull request, a release,
a dispatch or a cron tick.

Every event is recorded before anything else (the replay guard: a delivery seen
before starts nothing), then its commit is fetched into the repository's mirror and
the runs are planned from a checkout of it exactly as `stageline run` plans them
(`app.runs.prepare` with the event's name, payload and ref), so branch, path and
type filters decide the same way. The trigger ends `started` (with its runs),
`nothing` (with the reason) or `error` (with the positioned message).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stageline.app import runs
from stageline.engine.setup import NothingToRun, RunOptions
from stageline.errors import RunError, StagelineError

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.engine.setup import Prepared
    from stageline.store.server_records import RepoRow, TriggerRow

#: A sha of forty zeros: the `before` of a new ref, the `after` of a deleted one.
ZERO_SHA = "0" * 40


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One event as the server received it, whatever its source spoke.

    `kind` is GitHub's event name (`push`, `pull_request`, `release`,
    `workflow_dispatch`, `schedule`). `after` is the commit the runs are planned at
    ("" when the payload names a ref only: it is resolved after the fetch).
    `changed_paths` is None when the source did not say (then the mirror's diff
    `before..after` gives them).
    """

    source: str
    kind: str
    delivery_id: str
    repository_url: str | None = None
    ref: str = ""
    before: str | None = None
    after: str = ""
    actor: str | None = None
    author_email: str | None = None
    changed_paths: list[str] | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    #: A dispatch's workflow (a file name under .github/workflows); None: every one.
    workflow: str | None = None


class StartsRuns(Protocol):
    """What `trigger` needs of the server's `RunHost`: start prepared runs, linked to
    their repository, trigger and author, and say their ids."""

    def start(
        self,
        prepared: Prepared,
        *,
        repo: RepoRow,
        trigger_id: int | None,
        started_by: str,
        author_email: str,
    ) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a trigger ended (`TriggerRow.outcome`, `reason`, `run_ids`)."""

    outcome: str
    reason: str | None = None
    run_ids: list[int] = field(default_factory=list)


#: The events the server plans runs for; others are recorded with the reason.
HANDLED = (
    "push",
    "pull_request",
    "pull_request_target",
    "release",
    "workflow_dispatch",
    "schedule",
)
_MIRROR_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def trigger(
    server: ServerData, host: StartsRuns, repo: RepoRow, event: IncomingEvent
) -> TriggerRow | None:
    """Record `event` for `repo`, start the runs it asks for, and return the trigger as
    recorded with its outcome; None when its delivery was recorded before (a replay
    starts nothing)."""
    store = server.store.server
    actor = event.actor or event.source
    trigger_id = store.record_trigger(
        repo.id,
        event.source,
        event.kind,
        event.delivery_id,
        event.ref,
        event.after,
        actor,
        event.payload,
    )
    if trigger_id is None:
        return None
    try:
        outcome = _handle(server, host, repo, event, trigger_id)
    except NothingToRun as err:
        outcome = Outcome("nothing", err.message)
    except StagelineError as err:
        outcome = Outcome("error", str(err))
    store.finish_trigger(trigger_id, outcome.outcome, outcome.reason, outcome.run_ids)
    detail = {"trigger": trigger_id, "source": event.source, "kind": event.kind, "ref": event.ref}
    detail.update(outcome=outcome.outcome, reason=outcome.reason, runs=outcome.run_ids)
    store.audit(actor, "trigger", f"repo:{repo.name}", detail)
    found = store.get_trigger(trigger_id)
    assert found is not None  # recorded above, never deleted
    return found


def _handle(
    server: ServerData, host: StartsRuns, repo: RepoRow, event: IncomingEvent, trigger_id: int
) -> Outcome:
    if event.kind not in HANDLED:
        return Outcome("nothing", f"event '{event.kind}' is not one the server runs workflows on")
    if event.kind == "push" and event.after == ZERO_SHA:
        return Outcome("nothing", f"{event.ref} was deleted")
    with _mirror_lock(repo.id):
        mirror = Path(repo.mirror_path)
        fetch(repo, mirror, event.after)
        sha = _resolve(mirror, event)
        checkout = _checkout(server.checkouts_dir, repo, mirror, sha)
        changed = event.changed_paths
        if changed is None and event.kind == "push":
            changed = _diff(mirror, event.before, sha)
        author = event.author_email or _git(mirror, "log", "-1", "--format=%ae", sha)
    prepared = _prepare(checkout, event, changed)
    started_by = event.actor or event.source
    run_ids = host.start(
        prepared, repo=repo, trigger_id=trigger_id, started_by=started_by, author_email=author
    )
    return Outcome("started", None, list(run_ids))


def fetch(repo: RepoRow, mirror: Path, sha: str = "") -> None:
    """Bring the mirror up to date with the repository's branches and tags (made on
    first use), and fetch `sha` itself when no branch holds it (a pull request's head)."""
    if not (mirror / "HEAD").exists():
        mirror.parent.mkdir(parents=True, exist_ok=True)
        _git(mirror.parent, "clone", "--quiet", "--mirror", repo.url, str(mirror))
    refs = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
    _git(mirror, "fetch", "--quiet", "--prune", repo.url, *refs)
    if sha and not _has_commit(mirror, sha):
        _git(mirror, "fetch", "--quiet", repo.url, sha)


def _resolve(mirror: Path, event: IncomingEvent) -> str:
    """The commit the runs are planned at: the event's, else its ref's head."""
    if event.after:
        if not _has_commit(mirror, event.after):
            raise RunError(
                f"commit {event.after} is not in {event.repository_url or 'the repository'}"
            )
        return event.after
    if not event.ref:
        raise RunError(f"the {event.kind} event names no commit and no ref")
    found = _run_git(mirror, "rev-parse", "--verify", "-q", f"{event.ref}^{{commit}}")
    if found is None:
        raise RunError(f"no {event.ref} in the repository", hint="push it, or name another ref")
    return found


def _checkout(base: Path, repo: RepoRow, mirror: Path, sha: str) -> Path:
    """A working tree of `sha`, made once per commit and kept while runs use it. Its
    `origin` is the repository's URL, so `github.repository` is named as the CLI names
    it; its directory is named after the repository for the same reason."""
    where = base / repo.name / sha / repo.name
    if (where / ".git").exists():
        return where
    staging = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=base))
    tree = staging / repo.name
    _git(base, "clone", "--quiet", "--no-checkout", str(mirror), str(tree))
    _git(tree, "checkout", "--quiet", "--detach", sha)
    _git(tree, "remote", "set-url", "origin", repo.url)
    where.parent.mkdir(parents=True, exist_ok=True)
    try:
        tree.rename(where)
    except OSError:  # made meanwhile by another trigger of the same commit
        shutil.rmtree(staging, ignore_errors=True)
        return where
    staging.rmdir()
    return where


def _diff(mirror: Path, before: str | None, sha: str) -> list[str] | None:
    """The paths changed since `before` (None for a new ref: the CLI's default, the
    pushed commit's, applies)."""
    if not before or before == ZERO_SHA or not _has_commit(mirror, before):
        return None
    out = _run_git(mirror, "diff", "--name-only", before, sha)
    return out.splitlines() if out is not None else None


def _prepare(checkout: Path, event: IncomingEvent, changed: list[str] | None) -> Prepared:
    """The runs at `checkout`, prepared by `app.runs.prepare` as `stageline run --event
    KIND --eventpath PAYLOAD --ref REF` would prepare them there."""
    with tempfile.TemporaryDirectory(prefix="stageline-event-") as tmp:
        payload = Path(tmp) / "event.json"
        payload.write_text(json.dumps(event.payload))
        options = RunOptions(
            cwd=checkout,
            workflow=event.workflow,
            event=event.kind,
            event_path=payload,
            ref=event.ref or None,
            actor=event.actor,
            inputs=dict(event.inputs),
            changed_paths=changed,
        )
        return runs.prepare(options)


def _mirror_lock(repo_id: int) -> threading.Lock:
    with _LOCKS_LOCK:
        return _MIRROR_LOCKS.setdefault(repo_id, threading.Lock())


def _has_commit(repo: Path, sha: str) -> bool:
    return _run_git(repo, "cat-file", "-e", f"{sha}^{{commit}}") is not None


def _run_git(cwd: Path, *args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        problem = done.stderr.strip().splitlines()
        raise RunError(f"git {args[0]} failed: {problem[-1] if problem else done.returncode}")
    return done.stdout.strip()

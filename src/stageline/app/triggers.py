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

import dataclasses
import json
import re
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from stageline.app import repos, runs
from stageline.app.accounts import audit
from stageline.engine.setup import NothingToRun, RunOptions
from stageline.errors import RunError, StagelineError

if TYPE_CHECKING:
    from stageline.app.host import RunHost
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
#: A ref as git allows it (no leading `-`, no spaces or control characters).
_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+@-]*$")
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
#: Where a named workflow may be: its file name alone, or under a workflow directory.
_WORKFLOW_DIRS = ((), (".github", "workflows"), (".stageline", "workflows"))
_MIRROR_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def trigger(
    server: ServerData, host: RunHost, repo: RepoRow, event: IncomingEvent
) -> TriggerRow | None:
    """Record `event` for `repo`, start the runs it asks for, and return the trigger as
    recorded with its outcome; None when its delivery was recorded before (a replay
    starts nothing). Audited as `trigger`."""
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
    except Exception as err:  # recorded as an error all the same, then raised (a bug)
        store.finish_trigger(trigger_id, "error", f"internal error: {err}", [])
        raise
    store.finish_trigger(trigger_id, outcome.outcome, outcome.reason, outcome.run_ids)
    detail = {"trigger": trigger_id, "source": event.source, "kind": event.kind, "ref": event.ref}
    detail.update(outcome=outcome.outcome, reason=outcome.reason, runs=outcome.run_ids)
    audit(server, actor, "trigger", repo.name, detail)
    found = store.get_trigger(trigger_id)
    assert found is not None  # recorded above, never deleted
    return found


def _handle(
    server: ServerData, host: RunHost, repo: RepoRow, event: IncomingEvent, trigger_id: int
) -> Outcome:
    if event.kind not in HANDLED:
        return Outcome("nothing", f"event '{event.kind}' is not one the server runs workflows on")
    if event.kind == "push" and event.after == ZERO_SHA:
        return Outcome("nothing", f"{event.ref} was deleted")
    if not event.after and not event.ref:
        raise RunError(f"the {event.kind} event names no commit and no ref")
    _check_names(event)
    with _mirror_lock(repo.id):
        sha = repos.fetch(server, repo, event.after or event.ref)
        checkout = repos.checkout(server, repo, sha, event.ref)
        repos.prune_checkouts(server, repo)
    mirror = Path(repo.mirror_path)
    changed = event.changed_paths
    if changed is None and event.kind == "push":
        changed = _diff(mirror, event.before, sha)
    author = event.author_email or _git(mirror, "log", "-1", "--format=%ae", sha) or ""
    # the run's actor is whom the gates judge (self-review): the commit's author as a
    # user of this server (ADR 0011), else who sent the event
    user = server.store.server.user_for_email(author) if author else None
    if user is not None:
        event = dataclasses.replace(event, actor=user.name)
    prepared = _prepare(checkout, event, changed)
    started_by = event.actor or event.source
    run_ids = host.start(prepared, repo, started_by, trigger_id=trigger_id, author_email=author)
    return Outcome("started", None, list(run_ids))


def _check_names(event: IncomingEvent) -> None:
    """Refuse what git or the workflow lookup would misread: a ref or sha that is not
    one (`--option`, `a..b`), a workflow outside the workflow directories."""
    if event.ref and (not _REF.match(event.ref) or ".." in event.ref):
        raise RunError(f"invalid ref {event.ref!r}")
    if event.after and not _SHA.match(event.after):
        raise RunError(f"invalid commit sha {event.after!r}")
    if event.workflow is not None:
        *where, name = PurePosixPath(event.workflow).parts or ("",)
        if name.startswith(".") or "\\" in name or tuple(where) not in _WORKFLOW_DIRS:
            raise RunError(
                f"invalid workflow {event.workflow!r}",
                hint="name a file of .github/workflows, e.g. deploy.yml",
            )


def _diff(mirror: Path, before: str | None, sha: str) -> list[str] | None:
    """The paths changed since `before` (None for a new ref, or a `before` the mirror
    lacks: then the CLI's default, the pushed commit's, applies)."""
    if not before or before == ZERO_SHA:
        return None
    out = _git(mirror, "diff", "--name-only", before, sha)
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


def default_branch(repo: RepoRow) -> str | None:
    """The branch the mirror's HEAD names (the repository's default branch)."""
    return _git(Path(repo.mirror_path), "symbolic-ref", "--short", "HEAD") or None


def dispatch(
    server: ServerData,
    host: RunHost,
    repo: RepoRow,
    *,
    workflow: str,
    ref: str | None,
    inputs: dict[str, str],
    by: str,
) -> TriggerRow:
    """`workflow_dispatch` of `workflow` at `ref` (default: the default branch), by user
    `by`, with its inputs as text (typed by the workflow's declarations when planned)."""
    branch = ref or default_branch(repo)
    if not branch:
        raise RunError(f"{repo.name} has no default branch; give the ref to run at")
    full = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    event = IncomingEvent(
        source="api",
        kind="workflow_dispatch",
        delivery_id=f"dispatch-{uuid.uuid4()}",
        ref=full,
        actor=by,
        payload={"ref": full, "workflow": workflow, "inputs": dict(inputs)},
        inputs=dict(inputs),
        workflow=workflow,
    )
    found = trigger(server, host, repo, event)
    assert found is not None  # a fresh delivery id is never a replay
    return found


def _mirror_lock(repo_id: int) -> threading.Lock:
    """One fetch at a time per mirror in this process (git locks refs, and a second
    `remote update` meanwhile would fail rather than wait)."""
    with _LOCKS_LOCK:
        return _MIRROR_LOCKS.setdefault(repo_id, threading.Lock())


def _git(cwd: Path, *args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


__all__ = [
    "HANDLED",
    "ZERO_SHA",
    "IncomingEvent",
    "Outcome",
    "default_branch",
    "dispatch",
    "trigger",
]

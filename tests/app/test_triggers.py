"""Events to runs on a real server data dir: a real repository, its mirror, the
`RunHost` running the engine, the SQLite record."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stageline.app import repos
from stageline.app.host import RunHost
from stageline.app.schedule import running, tick
from stageline.app.serverdata import ServerData, open_server
from stageline.app.triggers import ZERO_SHA, IncomingEvent, dispatch, trigger
from stageline.runs.states import ACTIVE_STATUSES
from stageline.store.server_records import RepoRow
from tests.app.conftest import make_repo
from tests.support.git import git
from tests.support.postgres import fresh_database

CI = """on:
  push:
    branches: [main]
    paths: ['src/**', '.github/**']
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "built ${{ github.ref_name }} at ${{ github.sha }}"
"""
DEPLOY = """on:
  workflow_dispatch:
    inputs:
      dry:
        type: boolean
        default: false
      level:
        type: choice
        options: [low, high]
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: echo "dry=${{ inputs.dry }} level=${{ inputs.level }}"
"""
REVIEW = """on:
  pull_request:
    branches: [main]
  release:
    types: [published]
jobs:
  review:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.event_name }} ${{ github.ref }}"
"""
NIGHTLY = """on:
  schedule:
    - cron: '0 3 * * *'
jobs:
  nightly:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.event.schedule }}"
"""


@dataclass
class Served:
    server: ServerData
    host: RunHost
    repo: RepoRow
    source: Path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The server's data dir on each store: the replay guard and the schedule marks are the
    store's to keep."""
    with ExitStack() as stack:
        url = stack.enter_context(fresh_database()) if request.param == "postgresql" else None
        yield stack.enter_context(_served(tmp_path, url))


@contextmanager
def _served(tmp_path: Path, database_url: str | None) -> Iterator[Served]:
    source = make_repo(
        tmp_path / "webapp",
        {
            ".github/workflows/ci.yml": CI,
            ".github/workflows/deploy.yml": DEPLOY,
            ".github/workflows/nightly.yml": NIGHTLY,
            ".github/workflows/review.yml": REVIEW,
            "src/app.py": "print('hi')\n",
        },
    )
    with open_server(tmp_path / "data", database_url) as server:
        host = RunHost(server)
        repo = repos.add_repo(server, "webapp", str(source), "secret")
        try:
            yield Served(server, host, repo, source)
        finally:
            host.shutdown()


def _commit(source: Path, files: dict[str, str], message: str = "change") -> str:
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    git(source, "add", "-A")
    git(source, "commit", "-qm", message)
    return git(source, "rev-parse", "HEAD")


def _push(
    sha: str, before: str = ZERO_SHA, ref: str = "refs/heads/main", **more: object
) -> IncomingEvent:
    fields: dict[str, object] = {
        "source": "git",
        "kind": "push",
        "delivery_id": f"d-{sha[:8]}-{ref}",
        "ref": ref,
        "before": before,
        "after": sha,
        "actor": "alice",
        "payload": {"ref": ref, "before": before, "after": sha},
    }
    fields.update(more)
    return IncomingEvent(**fields)  # type: ignore[arg-type]


def _finished(served: Served, run_id: int, timeout: float = 60) -> str:
    """The run's conclusion once its thread has completed it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = served.server.store.runs.get_run(run_id).run
        if run.status not in ACTIVE_STATUSES:
            return str(run.conclusion)
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish in {timeout}s")


def test_a_push_to_main_starts_its_run_linked_to_the_trigger(served: Served) -> None:
    sha = git(served.source, "rev-parse", "HEAD")
    row = trigger(served.server, served.host, served.repo, _push(sha))
    assert row is not None
    assert (row.outcome, row.reason, row.sha) == ("started", None, sha)
    assert len(row.run_ids) == 1
    assert _finished(served, row.run_ids[0]) == "success"
    run = served.server.store.runs.get_run(row.run_ids[0]).run
    assert run.sha == sha
    link = served.server.store.server.run_link(row.run_ids[0])
    assert link is not None
    assert (link.trigger_id, link.started_by, link.author_email) == (
        row.id,
        "alice",
        "alice@example.com",
    )
    audited = served.server.store.server.list_audit()
    assert any(
        a.action == "trigger" and a.detail and a.detail["trigger"] == row.id for a in audited
    )


def test_a_replayed_delivery_starts_nothing(served: Served) -> None:
    sha = git(served.source, "rev-parse", "HEAD")
    first = trigger(served.server, served.host, served.repo, _push(sha))
    assert first is not None
    assert trigger(served.server, served.host, served.repo, _push(sha)) is None
    assert [t.id for t in served.server.store.server.list_triggers(served.repo.id)] == [first.id]
    assert len(served.server.store.server.runs_of_repo(served.repo.id)) == 1


def test_a_push_no_workflow_matches_is_recorded_with_the_reason(served: Served) -> None:
    git(served.source, "checkout", "-qb", "dev")
    sha = _commit(served.source, {"src/dev.py": "x = 1\n"})
    row = trigger(served.server, served.host, served.repo, _push(sha, ref="refs/heads/dev"))
    assert row is not None
    assert row.outcome == "nothing"
    assert row.run_ids == []
    assert row.reason is not None
    assert "no workflow runs on push to dev" in row.reason
    assert "branch 'dev' does not match push.branches [main]" in row.reason


def test_path_filters_see_every_pushed_commit(served: Served) -> None:
    before = git(served.source, "rev-parse", "HEAD")
    _commit(served.source, {"src/feature.py": "y = 2\n"}, "code")
    sha = _commit(served.source, {"docs/notes.md": "notes\n"}, "docs")
    # the head commit alone touches only docs/: the push as a whole touches src/
    row = trigger(served.server, served.host, served.repo, _push(sha, before=before))
    assert row is not None
    assert row.outcome == "started"
    only_docs = _commit(served.source, {"docs/more.md": "more\n"}, "more docs")
    row = trigger(served.server, served.host, served.repo, _push(only_docs, before=sha))
    assert row is not None
    assert (row.outcome, row.reason) == (
        "nothing",
        "no workflow runs on push to main:\n"
        "  .github/workflows/ci.yml: no changed path matches push.paths [src/**, .github/**]\n"
        "  .github/workflows/deploy.yml: event 'push' is not one of the workflow's triggers "
        "(workflow_dispatch)\n"
        "  .github/workflows/nightly.yml: event 'push' is not one of the workflow's triggers "
        "(schedule)\n"
        "  .github/workflows/review.yml: event 'push' is not one of the workflow's triggers "
        "(pull_request, release)",
    )


def test_a_workflow_that_fails_to_load_is_an_error_with_its_position(served: Served) -> None:
    broken = CI.replace("runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    needs: nowhere")
    sha = _commit(served.source, {".github/workflows/ci.yml": broken})
    row = trigger(served.server, served.host, served.repo, _push(sha))
    assert row is not None
    assert row.outcome == "error"
    assert row.reason is not None
    assert row.reason.startswith(".github/workflows/ci.yml:")
    assert ": error: " in row.reason and "nowhere" in row.reason


def test_a_deleted_branch_starts_nothing(served: Served) -> None:
    row = trigger(served.server, served.host, served.repo, _push(ZERO_SHA, delivery_id="gone"))
    assert row is not None
    assert (row.outcome, row.reason) == ("nothing", "refs/heads/main was deleted")


def test_an_event_the_server_does_not_run_on_is_recorded(served: Served) -> None:
    event = IncomingEvent(source="github", kind="issues", delivery_id="i-1", payload={})
    row = trigger(served.server, served.host, served.repo, event)
    assert row is not None
    assert (row.outcome, row.reason) == (
        "nothing",
        "event 'issues' is not one the server runs workflows on",
    )


def test_a_dispatch_types_its_inputs(served: Served) -> None:
    bad = dispatch(
        served.server,
        served.host,
        served.repo,
        workflow="deploy.yml",
        ref=None,
        inputs={"dry": "perhaps", "level": "low"},
        by="bob",
    )
    assert bad.outcome == "error"
    assert bad.reason is not None and "input 'dry' is a boolean, got 'perhaps'" in bad.reason
    good = dispatch(
        served.server,
        served.host,
        served.repo,
        workflow="deploy.yml",
        ref="main",
        inputs={"dry": "true", "level": "high"},
        by="bob",
    )
    assert good.outcome == "started"
    assert (good.ref, good.actor) == ("refs/heads/main", "bob")
    assert _finished(served, good.run_ids[0]) == "success"
    plan = served.server.store.runs.find_run(good.run_ids[0])
    assert plan is not None
    assert plan.plan["event"]["inputs"] == {"dry": "true", "level": "high"}
    link = served.server.store.server.run_link(good.run_ids[0])
    assert link is not None and link.started_by == "bob"


def test_a_schedule_fires_once_per_cron_time_on_the_default_branch(served: Served) -> None:
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert tick(served.server, served.host, start) == []  # first seen: counts from now
    assert tick(served.server, served.host, start + timedelta(hours=1)) == []
    # down for three days: one run, at the latest 03:00 missed
    fired = tick(served.server, served.host, start + timedelta(days=3, hours=4))
    assert [(t.kind, t.outcome, t.ref) for t in fired] == [
        ("schedule", "started", "refs/heads/main")
    ]
    assert fired[0].payload == {"schedule": "0 3 * * *"}
    assert _finished(served, fired[0].run_ids[0]) == "success"
    assert tick(served.server, served.host, start + timedelta(days=3, hours=5)) == []
    again = tick(served.server, served.host, start + timedelta(days=4, hours=3))
    assert len(again) == 1


def test_a_pull_request_runs_at_its_head_filtered_by_its_base(served: Served) -> None:
    git(served.source, "checkout", "-qb", "feature")
    head = _commit(served.source, {"src/feature.py": "z = 3\n"})
    payload = {
        "action": "opened",
        "number": 4,
        "pull_request": {"head": {"ref": "feature", "sha": head}, "base": {"ref": "main"}},
    }
    event = IncomingEvent(
        source="github",
        kind="pull_request",
        delivery_id="pr-4",
        ref="refs/pull/4/merge",
        after=head,
        actor="carol",
        payload=payload,
    )
    row = trigger(served.server, served.host, served.repo, event)
    assert row is not None
    assert (row.outcome, row.sha) == ("started", head)
    assert _finished(served, row.run_ids[0]) == "success"
    run = served.server.store.runs.get_run(row.run_ids[0]).run
    assert (run.event, run.ref, run.workflow_path) == (
        "pull_request",
        "refs/pull/4/merge",
        ".github/workflows/review.yml",
    )
    closed = dict(payload, action="closed")
    event = dataclasses.replace(event, delivery_id="pr-4-closed", payload=closed)
    row = trigger(served.server, served.host, served.repo, event)
    assert row is not None and row.outcome == "nothing"
    assert row.reason is not None
    assert "activity type 'closed' is not in pull_request.types" in row.reason


def test_a_release_runs_at_its_tag(served: Served) -> None:
    sha = git(served.source, "rev-parse", "HEAD")
    git(served.source, "tag", "v1.0.0")
    event = IncomingEvent(
        source="github",
        kind="release",
        delivery_id="rel-1",
        ref="refs/tags/v1.0.0",
        actor="alice",
        payload={"action": "published", "release": {"tag_name": "v1.0.0"}},
    )
    row = trigger(served.server, served.host, served.repo, event)
    assert row is not None
    assert row.outcome == "started", row.reason
    run = served.server.store.runs.get_run(row.run_ids[0]).run
    assert (run.event, run.ref, run.sha) == ("release", "refs/tags/v1.0.0", sha)


def test_the_schedule_service_ticks_in_its_own_thread_until_stopped(served: Served) -> None:
    times = iter([datetime(2026, 3, 2, 1, 0, tzinfo=UTC)])
    later = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)

    def clock() -> datetime:
        return next(times, later)

    with running(served.server, served.host, every=0.02, clock=clock):
        deadline = time.monotonic() + 30
        while not served.server.store.server.list_triggers(served.repo.id):
            assert time.monotonic() < deadline, "the schedule never fired"
            time.sleep(0.02)
    fired = served.server.store.server.list_triggers(served.repo.id)
    assert [(t.source, t.delivery_id) for t in fired] == [
        ("schedule", ".github/workflows/nightly.yml|0 3 * * *|2026-03-02T03:00:00+00:00")
    ]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"ref": "--upload-pack=touch /tmp/x"}, "invalid ref '--upload-pack=touch /tmp/x'"),
        ({"ref": "refs/heads/a..b"}, "invalid ref 'refs/heads/a..b'"),
        ({"after": "HEAD~1"}, "invalid commit sha 'HEAD~1'"),
        ({"workflow": "../../../etc/passwd"}, "invalid workflow '../../../etc/passwd'"),
        ({"workflow": "/etc/passwd"}, "invalid workflow '/etc/passwd'"),
        ({"workflow": ".github/workflows/../../x.yml"}, "invalid workflow"),
    ],
)
def test_names_git_or_the_lookup_would_misread_are_errors(
    served: Served, changes: dict[str, str], reason: str
) -> None:
    sha = git(served.source, "rev-parse", "HEAD")
    event = dataclasses.replace(_push(sha), **changes)  # type: ignore[arg-type]
    row = trigger(served.server, served.host, served.repo, event)
    assert row is not None
    assert row.outcome == "error"
    assert row.reason is not None and reason in row.reason
    assert row.run_ids == []

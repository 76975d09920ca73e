"""A job's log on a real server: byte ranges, and server-sent events followed by an HTTP
client while the job writes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from stageline.cli.remote import Event, parse_events
from tests.server.api.conftest import Team, wait_for

pytestmark = pytest.mark.slow

PROBLEM = "application/problem+json"


def job_status(team: Team, run_id: int, key: str) -> str:
    with team.client("vera") as api:
        jobs = api.get(f"/runs/{run_id}").json()["jobs"]
    return str(next(j["status"] for j in jobs if j["key"] == key))


def test_a_log_is_read_whole_and_in_byte_ranges(team: Team) -> None:
    run = team.start_run()
    wait_for(lambda: job_status(team, run, "build") == "completed", "the build job")
    logs = f"/runs/{run}/jobs/build/logs"
    with team.client("vera") as api:
        whole = api.get(logs)
        assert whole.status_code == 200
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["x-log-complete"] == "true"
        body = whole.content
        size = len(body)
        assert body.startswith(b"== build / ")
        assert b"tick 1\ntick 2\n" in body and body.endswith(b"\n")

        first = api.get(logs, headers={"Range": "bytes=0-9"})
        assert (first.status_code, first.content) == (206, body[:10])
        assert first.headers["content-range"] == f"bytes 0-9/{size}"
        rest = api.get(logs, headers={"Range": "bytes=10-"})
        assert (rest.status_code, rest.content) == (206, body[10:])
        last = api.get(logs, headers={"Range": "bytes=-7"})
        assert (last.status_code, last.content) == (206, body[-7:])
        clipped = api.get(logs, headers={"Range": f"bytes={size - 3}-{size + 100}"})
        assert clipped.headers["content-range"] == f"bytes {size - 3}-{size - 1}/{size}"

        beyond = api.get(logs, headers={"Range": f"bytes={size}-"})
        assert (beyond.status_code, beyond.headers["content-type"]) == (416, PROBLEM)
        assert beyond.headers["content-range"] == f"bytes */{size}"
        several = api.get(logs, headers={"Range": "bytes=0-1,4-5"})
        assert (several.status_code, several.content) == (200, body)  # ignored, as RFC 9110 allows

        by_name = api.get(f"/runs/{run}/jobs/build/logs")
        assert by_name.content == body
        unknown = api.get(f"/runs/{run}/jobs/nope/logs")
        assert (unknown.status_code, unknown.headers["content-type"]) == (404, PROBLEM)
        assert api.get("/runs/99/jobs/build/logs").status_code == 404


def test_a_log_is_followed_as_it_is_written(team: Team, tmp_path: Path) -> None:
    hold = tmp_path / "hold"  # the step waits for it after "tick 1"
    released: list[str] = []

    def release(by: str) -> None:
        if not released:
            released.append(by)
            hold.touch()

    fallback = threading.Timer(90, release, ("the timer",))  # so the job ends whatever happens
    fallback.start()
    run = team.start_run(HOLD=str(hold))
    events: list[Event] = []
    try:
        with (
            team.client("vera") as api,
            api.stream("GET", f"/runs/{run}/jobs/build/logs/follow") as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            for event in parse_events(stream.iter_lines()):
                events.append(event)
                if "tick 1" in event.data:
                    release("the follower")
    finally:
        fallback.cancel()
    # "tick 1" reached the follower while the job was still running (waiting for it)
    assert released == ["the follower"]
    names = [e.name for e in events]
    assert names[-1] == "end" and set(names[:-1]) == {"log"}
    assert json.loads(events[-1].data) == {"status": "completed", "conclusion": "success"}
    first = next(i for i, e in enumerate(events) if "tick 1" in e.data)
    assert "tick 2" not in events[first].data

    followed = "".join(e.data + "\n" for e in events[:-1])
    with team.client("vera") as api:
        whole = api.get(f"/runs/{run}/jobs/build/logs").text
        assert followed == whole
        # an offset (as a reconnecting EventSource sends Last-Event-ID) goes on from there
        middle = int(events[first].id or 0)
        again = api.get(
            f"/runs/{run}/jobs/build/logs/follow", headers={"Last-Event-ID": str(middle)}
        )
    rest = list(parse_events(iter(again.text.splitlines())))
    assert [e.name for e in rest] == ["log", "end"]
    assert rest[0].data + "\n" == whole.encode()[middle:].decode()


@pytest.mark.services
def test_logs_still_print_after_the_data_dir_moves_on_postgresql(tmp_path: Path) -> None:
    """Issue 12, item 4: a server on PostgreSQL keeps its log paths relative to its data
    dir, so a data dir moved to another place (or machine) still serves its logs."""
    from tests.server.api.conftest import running_team
    from tests.support.cli import stageline
    from tests.support.postgres import fresh_database
    from tests.support.server import served

    with fresh_database() as url:
        with running_team(tmp_path / "before", url) as team:
            run = team.start_run()
            wait_for(lambda: job_status(team, run, "build") == "completed", "the build job")
            token, project = team.tokens["vera"], team.project
        moved = (tmp_path / "before" / "server").rename(tmp_path / "after")
        with served(moved, "--database-url", url) as server:
            env = {"STAGELINE_SERVER": server.url, "STAGELINE_TOKEN": token}
            shown = stageline(project, "logs", str(run), "build", env=env)
            server.stop()
    assert shown.returncode == 0, shown.stderr
    assert "tick 1" in shown.stdout and "tick 2" in shown.stdout


def test_following_an_unknown_run_or_job_is_404(team: Team) -> None:
    run = team.start_run()
    with team.client("vera") as api:
        for path, detail, hint in (
            (f"/runs/{run}/jobs/nope/logs/follow", "no job 'nope'", "jobs: build, deploy"),
            ("/runs/99/jobs/build/logs/follow", "no run 99", "see /api/v1/runs"),
        ):
            answer = api.get(path)
            assert (answer.status_code, answer.headers["content-type"]) == (404, PROBLEM)
            assert detail in answer.json()["detail"] and answer.json()["hint"] == hint
            assert "record at" not in answer.json()["detail"]  # the store's place is not said

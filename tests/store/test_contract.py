"""The store contract: what `RunStore` and `DeploymentStore` promise, on SQLite and on
PostgreSQL alike (the `store` fixture runs each test on both; see conftest.py)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from stageline.errors import RunError, StoreError
from stageline.runs.states import Conclusion
from stageline.store import Store, open_store
from stageline.store.liveness import STALE_AFTER_S
from stageline.store.records import NewJob, NewRun

NEW = NewRun("/repo", "o/r", "CI", "ci.yml", "push", "refs/heads/main", "abc", "me", {"jobs": []})


def new_run(store: Store, jobs: list[str] | None = None, **changes: Any) -> int:
    new = NewRun(**{**{f: getattr(NEW, f) for f in NewRun.__slots__}, **changes})
    run_id, _ = store.runs.create_run(new, [NewJob(k, k, k, []) for k in jobs or []], "logs")
    return run_id


def set_run(store: Store, run_id: int, **values: Any) -> None:
    recorder = store.runs.recorder(run_id)
    recorder.run(**values)
    recorder.flush()


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


# -- runs ----------------------------------------------------------------------------------


def test_runs_are_numbered_per_repository(store: Store) -> None:
    jobs = [NewJob("a", "a", "A", []), NewJob("b.1", "b", "B (x)", ["a"], {"k": "x"}, "prod")]
    first = store.runs.create_run(NEW, jobs, "L")
    second = store.runs.create_run(NEW, [], "L")
    other = new_run(store, repo_path="/other")
    assert (first[1], second[1], store.runs.find_run(1, "/other").id) == (1, 2, other)  # type: ignore[union-attr]
    detail = store.runs.get_run(first[0])
    assert (detail.run.status, detail.run.log_dir, detail.run.pid) == (
        "queued",
        f"L/{first[0]}",
        os.getpid(),
    )
    assert [(j.key, j.needs, j.matrix, j.environment) for j in detail.jobs] == [
        ("a", [], None, None),
        ("b.1", ["a"], {"k": "x"}, "prod"),
    ]
    assert (
        detail.run.created_at.tzinfo is UTC
        and abs(detail.run.created_at.timestamp() - time.time()) < 60
    )
    assert [e.kind for e in store.runs.run_events(first[0])] == ["run.queued"]


def test_what_the_recorder_writes_reads_back(store: Store) -> None:
    run_id = new_run(store, ["a", "b"])
    rec = store.runs.recorder(run_id)
    now = time.time()
    rec.run(status="in_progress", started_at=now)
    rec.job("a", status="in_progress", started_at=now)
    rec.step_started("a", 0, "Run make", now)
    rec.step_finished(
        "a", 0, True, outcome="failure", conclusion="success", finished_at=now, exit_code=2
    )
    rec.step_finished("a", 1, False, name="Later", outcome="skipped", conclusion="skipped")
    rec.job("a", status="completed", conclusion="success", outputs={"v": "1"}, finished_at=now)
    rec.add_jobs([NewJob("b.1", "b", "B 1", []), NewJob("b.2", "b", "B 2", [])], replacing="b")
    rec.annotation("a", step_number=0, level="warning", message="careful", line=2, col=3)
    rec.artifact("a", name="dist", path="/x", size=5, expires_at=now + 60)
    rec.event("job.finished", "a", {"conclusion": "success"})
    assert rec.pending == 12  # the placeholder deleted, two legs added
    rec.flush()
    assert rec.pending == 0
    detail = store.runs.get_run(run_id)
    assert detail.run.status == "in_progress"
    assert abs(detail.run.started_at.timestamp() - now) < 1e-3  # type: ignore[union-attr]
    a = detail.jobs[0]
    assert (a.status, a.conclusion, a.outputs) == ("completed", "success", {"v": "1"})
    assert [(s.number, s.name, s.outcome, s.exit_code) for s in a.steps] == [
        (0, "Run make", "failure", 2),
        (1, "Later", "skipped", None),
    ]
    assert [j.key for j in detail.jobs] == ["a", "b.1", "b.2"]
    assert [(n.message, n.line) for n in detail.annotations] == [("careful", 2)]
    assert detail.artifacts[0].expires_at.timestamp() == pytest.approx(now + 60, abs=1e-3)  # type: ignore[union-attr]
    events = store.runs.run_events(run_id)
    assert [(e.kind, e.job_key, e.data) for e in events] == [
        ("run.queued", None, {}),
        ("job.finished", "a", {"conclusion": "success"}),
    ]
    assert store.runs.run_events(run_id, after=events[0].id) == events[1:]
    assert store.runs.run_state(run_id) == ("in_progress", None)


def test_a_step_log_path_is_known_while_the_step_runs(store: Store) -> None:
    run_id = new_run(store, ["a"])
    rec = store.runs.recorder(run_id)
    rec.step_started("a", 0, "Run make", 1.0, "/logs/1/a/0.log")
    rec.flush()
    [step] = store.runs.get_run(run_id).jobs[0].steps
    assert (step.status, step.log_path) == ("in_progress", "/logs/1/a/0.log")


def test_log_paths_follow_the_store_when_its_home_moves(
    tmp_path: Path, store_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paths under the store's logs are kept relative to its home on both backends (a
    moved data dir or repository keeps its logs); an old absolute path reads as it is."""
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    home = tmp_path / "home"
    with open_store(home, store_url) as store:
        run_id, _ = store.runs.create_run(NEW, [NewJob("a", "a", "a", [])], str(home / "logs"))
        rec = store.runs.recorder(run_id)
        rec.step_started("a", 0, "in the logs", 1.0, str(home / "logs" / "1" / "a" / "0.log"))
        rec.step_started("a", 1, "old and absolute", 1.0, "/old/logs/1/a/1.log")
        rec.step_finished("a", 1, True, log_path="/old/logs/1/a/1.log", log_size=3)
        rec.flush()
    moved = home.rename(tmp_path / "moved")
    with open_store(moved, store_url) as store:
        detail = store.runs.get_run(run_id)
        assert detail.run.log_dir == str(moved / "logs" / str(run_id))
        [(run, _)] = [(r, r.log_dir) for r in store.runs.list_runs() if r.id == run_id]
        assert run.log_dir == str(moved / "logs" / str(run_id))
        paths = [s.log_path for s in detail.jobs[0].steps]
        assert paths == [str(moved / "logs" / "1" / "a" / "0.log"), "/old/logs/1/a/1.log"]


def test_the_recorder_asks_to_be_flushed_once_per_batch(store: Store) -> None:
    asked: list[Any] = []
    rec = store.runs.recorder(new_run(store, ["a"]), asked.append)
    rec.job("a", status="in_progress")
    rec.event("job.started", "a")
    assert len(asked) == 1
    asked[0]()
    rec.event("job.finished", "a")
    assert len(asked) == 2


def test_cancel_requests_reach_the_heartbeat(store: Store) -> None:
    run_id = new_run(store, ["a", "b"])
    assert store.runs.heartbeat(run_id).cancel_run is None
    store.runs.request_job_cancel(store.runs.job_pk(run_id, "b"), "stop b")
    assert store.runs.heartbeat(run_id).cancel_jobs == {"b": "stop b"}
    assert store.runs.request_cancel(run_id, "enough")
    assert store.runs.heartbeat(run_id).cancel_run == "enough"
    assert store.runs.run_events(run_id)[-1].kind == "run.cancel_requested"
    set_run(store, run_id, status="completed", conclusion="success")
    assert not store.runs.request_cancel(run_id, "too late")
    with pytest.raises(LookupError):
        store.runs.job_pk(run_id, "nope")


def test_concurrency_groups_list_active_members_oldest_first(store: Store) -> None:
    first = new_run(store, concurrency_group="g")
    second = new_run(store, concurrency_group="g")
    new_run(store, concurrency_group="other")
    set_run(store, first, status="completed")
    assert [m.run_id for m in store.runs.active_runs_in_group("g")] == [second]
    run_id, _ = store.runs.create_run(NEW, [NewJob("a", "a", "A", [], concurrency_group="j")], "L")
    assert store.runs.active_jobs_in_group("j") == []  # queued jobs do not hold the group
    rec = store.runs.recorder(run_id)
    rec.job("a", status="in_progress")
    rec.flush()
    [member] = store.runs.active_jobs_in_group("j")
    assert (member.run_id, member.job_pk, member.status) == (
        run_id,
        store.runs.job_pk(run_id, "a"),
        "in_progress",
    )


def test_listing_reading_and_a_missing_run(store: Store) -> None:
    ids = [new_run(store), new_run(store, repo_path="/other"), new_run(store)]
    assert [r.id for r in store.runs.list_runs()] == ids[::-1]
    assert [r.id for r in store.runs.list_runs(repo_path="/repo", limit=1)] == [ids[2]]
    with pytest.raises(RunError, match="no run 999"):
        store.runs.get_run(999)
    with pytest.raises(RunError):
        store.runs.run_state(999)
    assert store.runs.find_run(999) is None
    assert store.runs.find_run(2, "/repo").id == ids[2]  # type: ignore[union-attr]  # by number
    assert store.runs.find_run(ids[1]).repo_path == "/other"  # type: ignore[union-attr]  # by id


def test_runs_are_listed_by_filters_and_before_an_id(store: Store) -> None:
    main = new_run(store)
    fix = new_run(store, ref="refs/heads/fix", workflow="Deploy", workflow_path="deploy.yml")
    failed = new_run(store)
    set_run(store, failed, status="completed", conclusion="failure")
    listed = store.runs.list_runs

    def ids(**filters: Any) -> list[int]:
        return [r.id for r in listed(**filters)]

    assert ids(branch="fix") == [fix]
    assert ids(workflow="Deploy") == ids(workflow="deploy.yml") == [fix]
    assert ids(status="failure") == ids(status="completed") == [failed]
    assert ids(status="queued") == [fix, main]
    assert ids(before=failed) == [fix, main]
    assert ids(before=failed, limit=1) == [fix]
    assert ids(branch="main", status="queued", repo_path="/repo") == [main]


def test_orphans_are_reaped_once_and_waiting_runs_outlive_their_process(store: Store) -> None:
    dead = new_run(store, ["a"])
    rec = store.runs.recorder(dead)
    rec.run(status="in_progress", started_at=1.0, pid=dead_pid())
    rec.step_started("a", 0, "Run sleep", 1.0)
    rec.flush()
    live, waiting = new_run(store), new_run(store)
    set_run(store, waiting, status="waiting", pid=dead_pid())
    assert not store.runs.run_alive(dead) and store.runs.run_alive(live)
    assert store.runs.reap_orphans() == [dead]
    assert store.runs.reap_orphans() == []
    detail = store.runs.get_run(dead)
    assert (detail.run.status, detail.run.conclusion) == ("completed", "failure")
    assert "ended before the run finished" in (detail.run.reason or "")
    assert (detail.jobs[0].conclusion, detail.jobs[0].steps[0].status) == ("cancelled", "completed")
    assert store.runs.run_events(dead)[-1].kind == "run.orphaned"
    assert store.runs.reap_orphans(now=time.time() + STALE_AFTER_S + 5) == [live]
    assert store.runs.get_run(live).run.conclusion == "cancelled"  # it never started
    assert "no heartbeat" in (store.runs.get_run(live).run.reason or "")


def test_finish_orphan_leaves_a_finished_run_alone(store: Store) -> None:
    run_id = new_run(store)
    set_run(store, run_id, status="completed", conclusion="success")
    store.runs.finish_orphan(run_id, "gone", Conclusion.FAILURE)
    assert store.runs.run_state(run_id) == ("completed", "success")


def test_resume_takes_the_run_over_and_forgets_unfinished_work(store: Store) -> None:
    run_id = new_run(store, ["test", "deploy", "matrix.1"])
    rec = store.runs.recorder(run_id)
    for key in ("test", "deploy", "matrix.1"):
        rec.step_started(key, 0, "step", 0.0)
        rec.annotation(key, level="notice", message=key)
    rec.run(pid=dead_pid(), cancel_requested="old")
    rec.flush()
    store.runs.reset_unfinished(
        run_id, keep={"test", "matrix.1"}, planned={"test", "deploy", "matrix"}
    )
    assert store.runs.mark_run_resumed(run_id, 2)  # this process holds it now
    detail = store.runs.get_run(run_id)
    assert [(j.key, len(j.steps)) for j in detail.jobs] == [("test", 1), ("deploy", 0)]
    assert [n.message for n in detail.annotations] == ["test"]
    assert (detail.run.pid, detail.run.cancel_requested, detail.run.attempt) == (
        os.getpid(),
        None,
        2,
    )
    assert store.runs.run_events(run_id)[-1].kind == "run.resumed"


def test_resume_reopens_a_reaped_run_and_queues_its_cut_short_jobs(store: Store) -> None:
    run_id = new_run(store, ["test", "deploy"])
    rec = store.runs.recorder(run_id)
    rec.job("test", status="completed", conclusion="success", finished_at=time.time())
    rec.job("deploy", status="in_progress", started_at=time.time())
    rec.run(status="in_progress", started_at=time.time(), pid=dead_pid())
    rec.flush()
    assert store.runs.reap_orphans() == [run_id]
    assert store.runs.mark_run_resumed(run_id, 2, reopen=True)
    store.runs.reset_unfinished(run_id, keep={"test"}, planned={"test", "deploy"})
    detail = store.runs.get_run(run_id)
    run = detail.run
    assert (run.status, run.conclusion, run.reason, run.finished_at) == (
        "in_progress",
        None,
        None,
        None,
    )
    jobs = {j.key: (j.status, j.conclusion, j.reason, j.finished_at) for j in detail.jobs}
    assert jobs["test"][:2] == ("completed", "success")
    assert jobs["deploy"] == ("queued", None, None, None)
    assert not store.runs.mark_run_resumed(run_id, 2, reopen=True)  # the lease is taken


# -- deployments ---------------------------------------------------------------------------


def deployment(
    store: Store, run_id: int | None, status: str = "queued", env: str = "staging"
) -> int:
    return store.deployments.create_deployment(
        repo_path="/repo", environment=env, run_id=run_id, job_key="deploy", status=status
    )


def test_the_environment_goes_to_the_oldest_live_deployment(store: Store) -> None:
    deps = store.deployments
    run = new_run(store)
    first, second = deployment(store, run), deployment(store, run)
    assert deps.claim_environment(second).id == first  # type: ignore[union-attr]
    assert deps.claim_environment(first) is None
    assert deps.get_deployment(first).status == "in_progress"  # type: ignore[union-attr]
    deps.finish_deployment(first, "success", None)
    assert deps.claim_environment(second) is None
    deps.finish_deployment(second, "success", None)
    assert [r.status for r in deps.list_deployments("/repo", "staging")] == ["inactive", "success"]
    assert deps.last_good("/repo", "staging").id == second  # type: ignore[union-attr]
    assert deps.last_good("/repo", "staging", before=second).id == first  # type: ignore[union-attr]
    assert deps.deployment_of_job(run, "deploy").id == second  # type: ignore[union-attr]
    deps.update_deployment(first, url="https://x")
    assert deps.get_deployment(first).url == "https://x"  # type: ignore[union-attr]


def test_a_dead_run_does_not_hold_the_environment(store: Store) -> None:
    gone = new_run(store)
    set_run(store, gone, status="waiting", pid=dead_pid())
    stale = deployment(store, gone, "in_progress")
    mine = deployment(store, new_run(store))
    assert store.deployments.claim_environment(mine) is None
    assert store.deployments.get_deployment(stale).status == "in_progress"  # type: ignore[union-attr]


def test_reaping_a_dead_run_concludes_the_deployments_it_left(store: Store) -> None:
    """A deploy in progress becomes an interrupted failure (the environment's state is
    unknown), a queued one never started; those of other runs are left alone."""
    dead = new_run(store)
    set_run(store, dead, status="in_progress", started_at=1.0, pid=dead_pid())
    deploying, queued = deployment(store, dead, "in_progress"), deployment(store, dead)
    other = deployment(store, new_run(store), "in_progress")
    assert store.runs.reap_orphans() == [dead]
    rows = {d: store.deployments.get_deployment(d) for d in (deploying, queued, other)}
    assert rows[deploying].status == "failure"  # type: ignore[union-attr]
    assert (rows[deploying].reason or "").startswith(  # type: ignore[union-attr]
        "interrupted: the stageline process (pid "
    )
    assert rows[deploying].finished_at is not None  # type: ignore[union-attr]
    assert rows[queued].status == "failure"  # type: ignore[union-attr]
    assert (rows[queued].reason or "").startswith("cancelled before it started")  # type: ignore[union-attr]
    assert rows[other].status == "in_progress"  # type: ignore[union-attr]


def test_gates_are_opened_once_and_decisions_read_incrementally(store: Store) -> None:
    deps = store.deployments
    run = new_run(store)
    gate, created = deps.open_gate(run, "production", actor="alice")
    again, created_again = deps.open_gate(run, "production", actor="someone else")
    assert (created, created_again, again.id, again.actor) == (True, False, gate.id, "alice")
    first = deps.record_decision(run, gate.id, "bob", "approve", comment="ok")
    deps.record_decision(run, gate.id, "carol", "reject", data={"to": 3})
    assert [(x.reviewer, x.data) for x in deps.decisions(gate.id)] == [
        ("bob", {}),
        ("carol", {"to": 3}),
    ]
    assert [x.reviewer for x in deps.decisions(gate.id, after=first)] == ["carol"]
    deps.record_decision(run, None, "auto", "approve", source_job="approval")
    assert [x.source_job for x in deps.auto_approvals(run)] == ["approval"]
    deps.update_gate(gate.id, status="approved", decided_by=["bob"], decided_at=time.time())
    updated = deps.get_gate(gate.id)
    assert (updated.status, updated.decided_by, updated.decided_at.tzinfo) == (
        "approved",
        ["bob"],
        UTC,
    )  # type: ignore[union-attr]
    pause, _ = deps.open_gate(run, "production", "pause", deployment_id=7)
    assert [g.id for g in deps.pending_pauses("production")] == [pause.id]
    assert [g.id for g in deps.gates_of_run(run, "approved")] == [gate.id]


def test_only_rollbacks_whose_process_died_are_interrupted(store: Store) -> None:
    deps = store.deployments
    run = new_run(store)
    deps.create_rollback(repo_path="/repo", environment="staging", run_id=run, method="script")
    dead = deps.create_rollback(
        repo_path="/repo", environment="staging", run_id=run, method="script", pid=dead_pid()
    )
    assert [r.id for r in deps.interrupted_rollbacks(run_id=run)] == [dead]
    deps.update_rollback(dead, status="failure")
    assert deps.interrupted_rollbacks(environment="staging") == []
    assert [r.status for r in deps.list_rollbacks("/repo")] == ["in_progress", "failure"]
    deps.record_event(run, "deploy.rolled_back", {"id": dead}, "deploy")
    assert store.runs.run_events(run)[-1].data == {"id": dead}


# -- several processes at once -------------------------------------------------------------


def _create_runs(home: str, url: str | None, start: Any, count: int, out: Any) -> None:
    with open_store(home, url) as store:
        start.wait()
        out.put(
            [store.runs.create_run(NEW, [NewJob("a", "a", "A", [])], "L")[1] for _ in range(count)]
        )


def _claim(home: str, url: str | None, start: Any, done: Any, out: Any) -> None:
    with open_store(home, url) as store:
        run_id, _ = store.runs.create_run(NEW, [], "L")  # this process: alive while it waits
        start.wait()
        mine = deployment(store, run_id)
        out.put(store.deployments.claim_environment(mine) is None)
        done.wait()


def _resume(home: str, url: str | None, start: Any, done: Any, out: Any) -> None:
    with open_store(home, url) as store:
        start.wait()
        out.put((os.getpid(), store.runs.mark_run_resumed(1, 2)))
        done.wait()  # the winner stays alive while the others look


def _in_processes(target: Any, args: tuple[Any, ...], count: int, barrier: int) -> list[Any]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    barriers = [context.Barrier(count) for _ in range(barrier)]
    processes = [
        context.Process(target=target, args=(*args[:2], *barriers, *args[2:], out))
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    results = [out.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return results


def test_processes_creating_runs_at_once_get_distinct_numbers(
    store: Store, store_url: str | None
) -> None:
    results = _in_processes(_create_runs, (str(store.home), store_url, 15), count=3, barrier=1)
    numbers = sorted(n for batch in results for n in batch)
    assert numbers == list(range(1, 46))


def test_processes_claiming_one_environment_at_once_get_one_claim(
    store: Store, store_url: str | None
) -> None:
    results = _in_processes(_claim, (str(store.home), store_url), count=3, barrier=2)
    assert sorted(results) == [False, False, True]
    claimed = store.deployments.list_deployments("/repo", "staging")
    assert [d.status for d in claimed].count("in_progress") == 1


def test_processes_resuming_one_run_at_once_get_one_lease(
    store: Store, store_url: str | None
) -> None:
    run_id = new_run(store, ["a"])
    set_run(store, run_id, status="waiting", pid=dead_pid())
    results = _in_processes(_resume, (str(store.home), store_url), count=3, barrier=2)
    winners = [pid for pid, took in results if took]
    assert len(winners) == 1
    detail = store.runs.get_run(run_id)
    assert (detail.run.pid, detail.run.attempt) == (winners[0], 2)
    assert [e.kind for e in store.runs.run_events(run_id)].count("run.resumed") == 1


# -- opening -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x@y/z", "unsupported database URL 'mysql://x@y/z'"),
        ("not a url", "invalid database URL"),
        ("postgresql+psycopg://postgres@127.0.0.1:9/none", "cannot open the record at postgresql"),
    ],
)
def test_a_bad_database_url_is_a_one_line_store_error(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(StoreError, match=message) as caught:
        open_store(tmp_path, url)
    assert "\n" not in str(caught.value)


def test_the_environment_variable_selects_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_DATABASE_URL", "mysql://elsewhere/db")
    with pytest.raises(StoreError, match="mysql://elsewhere/db"):
        open_store(tmp_path)
    with open_store(tmp_path, "") as store:  # an empty URL: the SQLite default
        assert store.where == str(tmp_path / "stageline.db")

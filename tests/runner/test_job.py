"""Whole jobs: isolation, cleanup, outputs, job timeout, cancel, logs."""

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from stageline.runner.contract import JobResult
from stageline.runner.job import run_job
from stageline.runs.states import Conclusion
from tests.runner.helpers import RecordingSink, git, job, make_repo, ports, request, run, step
from tests.runner.test_process import alive


def test_workspace_holds_the_commit_and_is_removed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.txt": "committed\n"})
    (repo / "a.txt").write_text("uncommitted\n")
    planned = job(step(0, "cat a.txt; pwd; test ! -e .git"))
    req = request(tmp_path, repo, planned)
    result, sink = run(req)
    assert result.conclusion == Conclusion.SUCCESS
    lines = sink.lines(0)
    assert lines[1] == "committed"
    assert not os.path.exists(lines[2])
    assert [n for n in os.listdir(tmp_path / "work") if not n.startswith(".")] == []


def test_keep_workspace(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    req = request(tmp_path, repo, job(step(0, "touch made-here")), keep_workspace=True)
    run(req)
    assert (tmp_path / "work/build/workspace/made-here").exists()


def test_a_job_that_wrecks_its_workspace_is_still_cleaned(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"d/f": "x"})
    planned = job(
        step(0, "chmod 000 d; chmod 500 .; cd ..; rm -rf temp/* || true"),
        step(1, "rm -rf $GITHUB_WORKSPACE"),
    )
    result, _ = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS
    assert not (tmp_path / "work/build").exists()


def test_environment_is_built_from_the_request_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAKY_HOST_SECRET", "host-value")
    monkeypatch.setenv("LC_TESTING", "kept")
    repo = make_repo(tmp_path)
    planned = job(
        step(0, 'echo "$LEAKY_HOST_SECRET|$LC_TESTING|$WF|$JOBV|$EXTRA|$CI"'),
        env={"JOBV": "${{ env.WF }}-job"},
    )
    req = request(tmp_path, repo, planned, extra_env={"EXTRA": "cli"})
    req.contexts["env"] = {"WF": "wf"}
    _result, sink = run(req)
    assert sink.lines(0)[-1] == "|kept|wf|wf-job|cli|true"


def test_event_payload_is_written(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    _, sink = run(request(tmp_path, repo, job(step(0, "cat $GITHUB_EVENT_PATH"))))
    assert json.loads(sink.lines(0)[-1])["ref"] == "refs/heads/main"


def test_job_outputs_are_evaluated_and_secret_ones_dropped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(
            0,
            "echo v=42 >> $GITHUB_OUTPUT; echo s=$TOKEN >> $GITHUB_OUTPUT",
            id="a",
            env={"TOKEN": "${{ secrets.TOKEN }}"},
        ),
        outputs={"value": "${{ steps.a.outputs.v }}", "secret": "${{ steps.a.outputs.s }}"},
    )
    result, _ = run(request(tmp_path, repo, planned, secrets={"TOKEN": "abc123"}))
    assert result.outputs == {"value": "42"}
    assert any("Skip output 'secret'" in a.message for a in result.annotations)


def test_logs_are_one_file_per_step_written_as_produced(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    logfile = tmp_path / "logs/build.0.log"
    planned = job(
        step(0, f"echo first; sleep 0.3; sed -n 2p {logfile}; echo done"), step(1, "echo second")
    )
    result, _ = run(request(tmp_path, repo, planned))
    assert result.steps[0].log_path == str(logfile)
    content = logfile.read_text().splitlines()
    # the step read its own log while running: "first" was already on disk
    assert content[1:] == ["first", "first", "done"]
    assert Path(result.steps[1].log_path or "").read_text().splitlines()[1:] == ["second"]


def test_job_timeout_kills_the_step_and_fails_the_job(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, "sleep 30"),
        step(1, "echo cleanup", if_="always()"),
        step(2, "echo normal"),
        timeout_minutes=0.005,
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.FAILURE
    assert result.reason and "maximum execution time" in result.reason
    assert [s.conclusion.value for s in result.steps] == ["failure", "success", "skipped"]
    assert sink.lines(1)[-1] == "cleanup"


def test_cancel_kills_the_running_step_and_skips_the_rest(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    pidfile = tmp_path / "bg.pid"
    planned = job(
        step(0, f"sleep 60 & echo $! > {pidfile}; echo started; sleep 60"),
        step(1, "echo not-run"),
        step(2, "echo cleanup", if_="always()"),
        step(3, "echo cancelled-seen", if_="cancelled()"),
    )
    req = request(tmp_path, repo, planned)
    sink = RecordingSink()

    async def go() -> JobResult:
        cancel = asyncio.Event()
        task = asyncio.create_task(run_job(req, sink, cancel, ports(req), kill_grace=1.0))
        while "started" not in sink.lines(0):
            await asyncio.sleep(0.01)
        cancel.set()
        return await task

    started = time.monotonic()
    result = asyncio.run(go())
    assert time.monotonic() - started < 20
    assert result.conclusion == Conclusion.CANCELLED
    assert [s.conclusion.value for s in result.steps] == [
        "cancelled",
        "skipped",
        "success",
        "success",
    ]
    assert not alive(int(pidfile.read_text()))
    finished = [c for c in sink.calls if c[0] == "finished"]
    assert len(finished) == 4


def test_background_processes_do_not_outlive_the_job(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    pidfile = tmp_path / "server.pid"
    planned = job(step(0, f"(sleep 60; echo bye) & echo $! > {pidfile}"), step(1, "echo next"))
    result, _ = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS
    assert not alive(int(pidfile.read_text()))


def test_unknown_commit_is_a_failed_job_not_an_exception(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    req = request(tmp_path, repo, job(step(0, "true")), sha="f" * 40)
    result, sink = run(req)
    assert result.conclusion == Conclusion.FAILURE
    assert result.reason and "workspace" in result.reason
    assert [s.conclusion for s in result.steps] == [Conclusion.SKIPPED]
    assert any(c[0] == "finished" for c in sink.calls)


def test_bad_job_env_fails_the_job_before_any_step(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    result, _ = run(request(tmp_path, repo, job(step(0, "true"), env={"A": "${{ nope.x }}"})))
    assert result.conclusion == Conclusion.FAILURE
    assert result.steps[0].conclusion == Conclusion.SKIPPED


def test_two_jobs_in_parallel_do_not_share_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"shared.txt": "orig\n"})
    sha = git(repo, "rev-parse", "HEAD")
    one = request(
        tmp_path,
        repo,
        job(
            step(
                0,
                "echo one > shared.txt; sleep 0.2; cat shared.txt; "
                "test ! -e $TMPDIR/x && echo isolated",
            ),
            key="one",
        ),
    )
    two = request(
        tmp_path,
        repo,
        job(
            step(0, "echo two > shared.txt; touch $TMPDIR/x; sleep 0.2; cat shared.txt"), key="two"
        ),
    )
    assert one.sha == two.sha == sha
    sinks = RecordingSink(), RecordingSink()

    async def go() -> tuple[JobResult, JobResult]:
        return await asyncio.gather(
            run_job(one, sinks[0], asyncio.Event(), ports(one)),
            run_job(two, sinks[1], asyncio.Event(), ports(two)),
        )

    asyncio.run(go())
    assert sinks[0].lines(0)[1:] == ["one", "isolated"]
    assert sinks[1].lines(0)[-1] == "two"

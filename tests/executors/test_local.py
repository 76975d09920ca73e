"""What the local executor adds to the contract: real workspaces, processes, timeouts."""

import asyncio
import os
from dataclasses import replace
from pathlib import Path

import pytest

from stageline.errors import RunError
from stageline.executors.local import LocalExecutor
from stageline.runs.states import Conclusion
from tests.runner.helpers import RecordingSink, commit_files, git, job, make_repo, request, step


def test_runs_the_commit_of_the_request(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"v.txt": "one\n"})
    first = git(repo, "rev-parse", "HEAD")
    commit_files(repo, {"v.txt": "two\n"}, "second")
    req = request(tmp_path, repo, job(step(0, "cat v.txt; echo $GITHUB_SHA")), sha=first)
    sink = RecordingSink()
    result = asyncio.run(LocalExecutor().run_job(req, sink, asyncio.Event()))
    assert result.conclusion == Conclusion.SUCCESS
    assert sink.lines(0)[1:] == ["one", first]


def test_job_timeout_is_enforced(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    req = request(tmp_path, repo, job(step(0, "sleep 60"), timeout_minutes=0.005))
    result = asyncio.run(
        LocalExecutor(kill_grace=0.5).run_job(req, RecordingSink(), asyncio.Event())
    )
    assert result.conclusion == Conclusion.FAILURE
    assert result.reason and "timeout-minutes" in result.reason


def test_each_step_reports_where_its_log_is_and_its_size(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    req = request(tmp_path, repo, job(step(0, "echo hello"), step(1, "printf 'a\\nbb\\n'")))
    result = asyncio.run(LocalExecutor().run_job(req, RecordingSink(), asyncio.Event()))
    assert result.conclusion == Conclusion.SUCCESS
    for each in result.steps:
        assert each.log_path and each.log_path.startswith(str(tmp_path / "logs"))
        assert each.log_size == os.path.getsize(each.log_path) > 0


def test_a_request_without_local_directories_is_an_executor_fault(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    req = replace(request(tmp_path, repo, job(step(0, "true"))), local=None)
    with pytest.raises(RunError, match=r"needs `request\.local`"):
        asyncio.run(LocalExecutor().run_job(req, RecordingSink(), asyncio.Event()))

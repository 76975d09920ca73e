"""A run survives its process: killed (SIGKILL) while a gate waits or while it rolls
back, `stageline show` says where it stood and `stageline resume` finishes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.deploy_env import (
    by_name,
    deployments,
    environ,
    environment,
    kill,
    make_repo,
    monitor,
    show,
    stageline,
    start_run,
    wait_until,
    waiting_job,
)

pytestmark = pytest.mark.slow

GATED = """environments:
  production:
    approval:
      rules:
        - {reviewers: [alice, bob, carol], required: 2}
"""


def test_resume_after_the_process_was_killed_while_waiting(tmp_path: Path) -> None:
    with environment(tmp_path) as service:
        repo = make_repo(tmp_path, service.state, GATED, environment="production")
        process = start_run(repo)
        wait_until(lambda: waiting_job(repo), what="the gate to wait")
        assert stageline(repo, "approve", "1", "--as", "bob").returncode == 0
        wait_until(
            lambda: "(approved: bob)" in (waiting_job(repo) or {}).get("waiting_for", ""),
            what="bob's approval to count",
        )
        kill(process)

        document = show(repo)  # the record still says where the run stood
        assert document["status"] == "waiting"
        assert document["waiting_for"].startswith("deploy: waiting for approval")
        assert by_name(document)["deploy"]["waiting_for"].startswith(
            "waiting for approval: 1 of 2 from alice, bob, carol (approved: bob)"
        )
        test_job = by_name(document)["test"]
        assert test_job["conclusion"] == "success"

        # A decision while no process runs is recorded all the same.
        assert stageline(repo, "approve", "1", "--as", "carol").returncode == 0
        done = stageline(repo, "resume", "1")
        assert done.returncode == 0, done.stderr
        after = show(repo)
        assert after["conclusion"] == "success"
        jobs = by_name(after)
        assert jobs["test"]["started_at"] == test_job["started_at"]  # not run again
        assert jobs["deploy"]["conclusion"] == "success"
        assert repo.deploys() == ["v1 rollback=false"]
        [record] = deployments(repo)
        assert record["approved_by"] == ["bob", "carol"]

        again = stageline(repo, "resume", "1")
        assert again.returncode == 1
        assert "run 1 has ended (success); nothing to resume" in again.stderr


def test_concurrent_resumes_one_proceeds_the_others_refuse(tmp_path: Path) -> None:
    with environment(tmp_path) as service:
        repo = make_repo(tmp_path, service.state, GATED, environment="production")
        process = start_run(repo)
        wait_until(lambda: waiting_job(repo), what="the gate to wait")
        kill(process)
        for reviewer in ("bob", "carol"):
            assert stageline(repo, "approve", "1", "--as", reviewer).returncode == 0
        resumes = [
            subprocess.Popen(
                [sys.executable, "-m", "stageline", "resume", "1"],
                cwd=repo.path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=environ(),
            )
            for _ in range(3)
        ]
        ended = [(p.pid, *p.communicate(timeout=120)) for p in resumes]
        codes = [p.returncode for p in resumes]
        assert sorted(codes) == [0, 1, 1], ended
        [winner] = [pid for (pid, _, _), code in zip(ended, codes, strict=True) if code == 0]
        for (_, _, err), code in zip(ended, codes, strict=True):
            if code == 1:
                assert f"run 1 is being resumed by pid {winner}" in err
                assert "Traceback" not in err
        after = show(repo)
        assert (after["status"], after["conclusion"]) == ("completed", "success")
        assert repo.deploys() == ["v1 rollback=false"]
        assert [(d["job"], d["status"]) for d in deployments(repo)] == [("deploy", "success")]


ROLLBACK_SH = """#!/bin/sh
echo "rollback=$STAGELINE_ROLLBACK restores=$STAGELINE_RESTORES_SHA" >> "$STATE_DIR/rollbacks.log"
sleep 2
echo v0 > "$STATE_DIR/current"
"""


def test_resume_completes_a_rollback_the_kill_interrupted(tmp_path: Path) -> None:
    with environment(tmp_path) as service:
        config = (
            "environments:\n  staging:\n"
            + monitor(service)
            + "    rollback: {mode: auto, run: ./rollback.sh}\n"
        )
        repo = make_repo(tmp_path, service.state, config, release="v1-bad")
        (repo.path / "rollback.sh").write_text(ROLLBACK_SH)
        (repo.path / "rollback.sh").chmod(0o755)
        repo.commit("v1-bad")
        log = repo.state / "rollbacks.log"
        process = start_run(repo)
        wait_until(log.exists, what="the rollback script to start")
        kill(process)
        assert repo.current() == "v1-bad"  # the script never finished

        document = show(repo)
        assert document["status"] == "waiting"
        deploy = by_name(document)["deploy"]
        assert deploy["waiting_for"] == (
            "rolling back staging to its rollback script (rollback #1, running ./rollback.sh)"
        )
        shown = stageline(repo, "show", "1")
        assert "rolling back staging" in " ".join(shown.stdout.split())

        done = stageline(repo, "resume", "1")
        assert done.returncode == 1  # the run fails: its deploy was rolled back
        assert repo.current() == "v0"
        assert log.read_text().splitlines() == ["rollback=true restores="] * 2
        deploy = by_name(show(repo))["deploy"]
        assert deploy["conclusion"] == "failure"
        assert deploy["reason"] == (
            "interrupted while rolling back; staging rolled back to its rollback script "
            "in place of deployment #1 (" + deployments(repo)[0]["sha"][:7] + ")"
        )
        bad, rollback = deployments(repo)
        assert (bad["status"], rollback["kind"], rollback["status"]) == (
            "rolled_back",
            "rollback",
            "success",
        )

"""The bake window and rollback end to end: a real service whose health turns bad when a
broken release is deployed, a Prometheus-compatible endpoint with canned answers, and
`stageline` driven from other processes (approve, rollback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.deploy_env import (
    by_name,
    deployments,
    environment,
    finish,
    make_repo,
    monitor,
    show,
    stageline,
    start_run,
    wait_until,
    waiting_job,
)
from tests.notify.receivers import webhook

pytestmark = pytest.mark.slow

ERRORS = "sum(rate(http_errors_total[1m]))"


def staging(service_url: str, monitor_block: str, hook: str | None = None, extra: str = "") -> str:
    routes = (
        f"notifications:\n  - url: json://{hook}/hook\n"
        "    events: [deployment.*, monitor.*, rollback.*, run.finished, job.failed]\n"
        if hook
        else ""
    )
    return f"environments:\n  staging:\n    url: {service_url}\n{monitor_block}{extra}{routes}"


def test_a_failed_check_rolls_back_automatically(tmp_path: Path) -> None:
    with environment(tmp_path) as service, webhook() as hook:
        config = staging(service.url, monitor(service), hook.url, "    rollback: {mode: auto}\n")
        repo = make_repo(tmp_path, service.state, config)
        code, _out, err = finish(start_run(repo))
        assert code == 0, err
        good = show(repo, 1)
        assert repo.current() == "v1"

        repo.commit("v2-bad")
        code, _out, err = finish(start_run(repo))
        assert code == 1, err
        assert repo.current() == "v1"  # restored
        assert repo.deploys() == ["v1 rollback=false", "v2-bad rollback=false", "v1 rollback=true"]
        document = show(repo, 2)
        deploy = by_name(document)["deploy"]
        assert deploy["conclusion"] == "failure"
        assert deploy["reason"].startswith("check 'health' failed 2 time(s) (failure_limit 1): ")
        assert "status 503, expected 200" in deploy["reason"]
        assert deploy["reason"].endswith(
            f"staging rolled back to deployment #1 ({good['sha'][:7]}) "
            f"in place of deployment #2 ({document['sha'][:7]})"
        )
        assert document["reason"] == "failed: deploy"
        first, bad, rollback = deployments(repo)
        assert (first["status"], bad["status"]) == ("inactive", "rolled_back")
        assert (rollback["kind"], rollback["status"]) == ("rollback", "success")
        assert (rollback["replaces"], rollback["restores"]) == (bad["id"], first["id"])
        assert rollback["sha"] == first["sha"] == good["sha"]
        assert rollback["triggered_by"] == "auto"

        titles = [b["title"].removeprefix("[stageline] ") for b in hook.bodies("/hook")]
        second_run = titles[titles.index("run.finished: Deliver") + 1 :]
        assert [t.split(":")[0] for t in second_run] == [
            "deployment.started",
            "monitor.check_failed",
            "deployment.failed",
            "rollback.started",
            "rollback.finished",
            "job.failed",
            "run.finished",
        ]


def test_manual_rollback_mode_fails_and_leaves_the_release(tmp_path: Path) -> None:
    with environment(tmp_path) as service:
        config = staging(service.url, monitor(service), extra="    rollback: {mode: manual}\n")
        repo = make_repo(tmp_path, service.state, config, release="v1-bad")
        code, _out, _err = finish(start_run(repo))
        assert code == 1
        deploy = by_name(show(repo))["deploy"]
        assert deploy["reason"].endswith(
            "rollback mode is manual: run `stageline rollback staging`"
        )
        [record] = deployments(repo)
        assert record["status"] == "failure"
        assert repo.current() == "v1-bad"


def test_manual_rollback_to_a_chosen_deployment(tmp_path: Path) -> None:
    with environment(tmp_path) as service, webhook() as hook:
        config = staging(service.url, "", hook.url)
        repo = make_repo(tmp_path, service.state, config)
        for release in ("v2", "v3"):
            assert finish(start_run(repo))[0] == 0
            repo.commit(release)
        assert finish(start_run(repo))[0] == 0
        assert [d["status"] for d in deployments(repo)] == ["inactive", "inactive", "success"]

        done = stageline(repo, "rollback", "staging", "--to", "1", "--as", "erin")
        assert done.returncode == 0, done.stderr
        first_sha = deployments(repo)[0]["sha"]
        assert done.stdout.strip() == (
            f"staging rolled back to deployment #1 ({first_sha[:7]}) "
            f"in place of deployment #3 ({deployments(repo)[2]['sha'][:7]})"
        )
        assert repo.current() == "v1"
        assert repo.deploys()[-1] == "v1 rollback=true"
        records = deployments(repo)
        assert [d["status"] for d in records] == ["inactive", "inactive", "rolled_back", "success"]
        assert records[3]["kind"] == "rollback"
        assert (records[3]["replaces"], records[3]["restores"]) == (3, 1)
        assert records[3]["triggered_by"] == "erin"

        again = stageline(repo, "rollback", "staging", "--to", "3")
        assert again.returncode == 1
        assert "deployment #3 cannot be restored: it is rolled_back" in again.stderr
        wait_until(lambda: len(hook.bodies("/hook")) >= 8)
        assert [b["title"] for b in hook.bodies("/hook")][-2:] == [
            "[stageline] rollback.started: staging",
            "[stageline] rollback.finished: staging",
        ]


def test_a_rollback_stops_before_anything_when_artifacts_are_gone(tmp_path: Path) -> None:
    workflow = """name: Deliver
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: mkdir -p dist && cp release.txt dist/
      - uses: actions/upload-artifact@v4
        with: {name: dist, path: dist}
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - uses: actions/checkout@v4
      - uses: actions/download-artifact@v4
        with: {name: dist, path: dist}
      - run: cp dist/release.txt release.txt && ./deploy.sh
"""
    with environment(tmp_path) as service:
        repo = make_repo(tmp_path, service.state, staging(service.url, ""), workflow=workflow)
        assert finish(start_run(repo))[0] == 0
        repo.commit("v2")
        assert finish(start_run(repo))[0] == 0
        artifacts = repo.path / ".stageline" / "artifacts" / "1"
        assert (artifacts / "dist").is_dir()
        import shutil

        shutil.rmtree(artifacts)
        done = stageline(repo, "rollback", "staging")
        assert done.returncode == 1
        assert (
            "cannot roll back staging to deployment #1: the artifacts of run 1 (dist) are gone"
            in (done.stderr)
        )
        assert "nothing was changed" in done.stderr
        assert repo.current() == "v2"
        assert [d["status"] for d in deployments(repo)] == ["inactive", "success"]


def test_pause_then_a_person_continues(tmp_path: Path) -> None:
    with environment(tmp_path) as service:
        service.vector(ERRORS, 0.2)  # 20% errors: over the threshold
        checks = (
            "        - name: error-rate\n"
            f"          prometheus: {{url: {service.url}, query: '{ERRORS}', "
            "fail_if: 'result > 0.05'}\n"
            "          on_fail: pause\n"
        )
        repo = make_repo(
            tmp_path, service.state, staging(service.url, monitor(service, extra=checks))
        )
        process = start_run(repo)
        job = wait_until(lambda: waiting_job(repo), what="the pause")
        wait_until(
            lambda: (waiting_job(repo) or {}).get("waiting_for", "").startswith("paused"),
            what="the pause",
        )
        job = waiting_job(repo)
        assert job is not None
        assert (
            f"check 'error-rate' failed 1 time(s) (failure_limit 0): {ERRORS} = 0.2"
            in (job["waiting_for"])
        )
        assert [d["status"] for d in deployments(repo)] == ["in_progress"]
        done = stageline(repo, "approve", "1", "--as", "dave", "--comment", "known noise")
        assert done.returncode == 0, done.stderr
        assert "continued" in done.stdout
        code, _out, err = finish(process)
        assert code == 0, err
        assert [d["status"] for d in deployments(repo)] == ["success"]
        assert repo.current() == "v1"


def test_pause_then_a_person_rolls_back(tmp_path: Path) -> None:
    with environment(tmp_path) as service:
        service.vector(ERRORS, 0.0)
        checks = (
            "        - name: error-rate\n"
            f"          prometheus: {{url: {service.url}, query: '{ERRORS}', "
            "fail_if: 'result > 0.05'}\n"
            "          on_fail: pause\n"
        )
        repo = make_repo(
            tmp_path, service.state, staging(service.url, monitor(service, extra=checks))
        )
        assert finish(start_run(repo))[0] == 0
        service.vector(ERRORS, 0.5)
        repo.commit("v2")
        process = start_run(repo)
        wait_until(
            lambda: (waiting_job(repo, 2) or {}).get("waiting_for", "").startswith("paused"),
            what="the pause",
        )
        done = stageline(repo, "rollback", "staging", "--as", "erin")
        assert done.returncode == 0, done.stderr
        assert "run 2 is paused on staging: it rolls back now" in done.stdout
        code, _out, _err = finish(process)
        assert code == 1
        assert repo.current() == "v1"
        records = deployments(repo)
        assert [d["status"] for d in records] == ["inactive", "rolled_back", "success"]
        assert records[2]["triggered_by"] == "erin"
        assert "rolled back to deployment #1" in by_name(show(repo, 2))["deploy"]["reason"]


def test_a_pause_that_takes_decisions_only_through_the_server_refuses_a_local_rollback(
    tmp_path: Path,
) -> None:
    """Issue 13: `stageline rollback` decides a paused window (it asks the run to roll
    back); with `approval.where: server` that local decision is refused as `approve`'s
    is, and nothing is recorded: the run stays paused."""
    from stageline.store import open_store

    with environment(tmp_path) as service:
        service.vector(ERRORS, 0.0)
        checks = (
            "        - name: error-rate\n"
            f"          prometheus: {{url: {service.url}, query: '{ERRORS}', "
            "fail_if: 'result > 0.05'}\n"
            "          on_fail: pause\n"
        )
        where = "    approval: {where: server}\n"
        repo = make_repo(
            tmp_path,
            service.state,
            staging(service.url, monitor(service, extra=checks), extra=where),
        )
        assert finish(start_run(repo))[0] == 0
        service.vector(ERRORS, 0.5)
        repo.commit("v2")
        process = start_run(repo)
        try:
            wait_until(
                lambda: (waiting_job(repo, 2) or {}).get("waiting_for", "").startswith("paused"),
                what="the pause",
            )
            done = stageline(repo, "rollback", "staging", "--as", "erin")
            assert done.returncode == 1
            assert (
                "error: environment 'staging' takes decisions only through the team server "
                "(approval.where: server); this one was not recorded"
            ) in done.stderr
            assert "Traceback" not in done.stderr
            with open_store(repo.path / ".stageline") as store:
                [gate] = store.deployments.pending_pauses("staging")
                assert store.deployments.decisions(gate.id) == []
            assert (waiting_job(repo, 2) or {}).get("waiting_for", "").startswith("paused")
            assert stageline(repo, "cancel", "2").returncode == 0
            code, _out, _err = finish(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert code != 0
        assert repo.current() == "v2"  # nobody rolled it back

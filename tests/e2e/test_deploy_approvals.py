"""Approval gates end to end: reviewers decide from other processes, the rules hold, every
decision is recorded, and the team hears about each stage (webhook and e-mail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.deploy_env import (
    by_name,
    deployments,
    environment,
    finish,
    make_repo,
    show,
    stageline,
    start_run,
    wait_until,
    waiting_job,
)
from tests.notify.receivers import smtp_server, webhook

pytestmark = pytest.mark.slow

RULES = """environments:
  production:
    url: {url}
    branches: [main]
    approval:
      rules:
        - {{reviewers: [alice, bob, carol], required: 2}}
      prevent_self_review: true
{extra}notifications:
  - url: json://{hook}/hook
    events: [run.*, approval.*, deployment.*, job.failed]
  - url: mailto://127.0.0.1:{smtp}?from=ci@example.com&to=ops@example.com&mode=insecure
    events: [approval.requested, deployment.succeeded]
"""


def test_two_of_three_reviewers_from_other_processes_self_review_refused(
    tmp_path: Path,
) -> None:
    with environment(tmp_path) as service, webhook() as hook, smtp_server() as box:
        config = RULES.format(url=service.url, hook=hook.url, smtp=box.port, extra="")
        repo = make_repo(tmp_path, service.state, config, environment="production")
        process = start_run(repo, user="alice")
        job = wait_until(lambda: waiting_job(repo), what="the gate to wait")
        assert job["name"] == "deploy"
        assert "0 of 2 from alice, bob, carol" in job["waiting_for"]

        # alice triggered the run: her approval is recorded but does not count.
        mine = stageline(repo, "approve", "1", user="alice")
        assert mine.returncode == 1
        assert "alice triggered the run and self-review is not allowed" in mine.stderr
        assert "Traceback" not in mine.stderr
        # dave is on no rule.
        outsider = stageline(repo, "approve", "1", "--as", "dave")
        assert outsider.returncode == 1
        assert "dave is not a reviewer of any approval rule" in outsider.stderr

        first = stageline(repo, "approve", "1", "--as", "bob", "--comment", "looks good")
        assert first.returncode == 0, first.stderr
        wait_until(
            lambda: "(approved: bob)" in (waiting_job(repo) or {}).get("waiting_for", ""),
            what="bob's approval to count",
        )
        assert waiting_job(repo)["status"] == "waiting"
        second = stageline(repo, "approve", "1", "--env", "production", "--as", "carol")
        assert second.returncode == 0, second.stderr
        code, _out, err = finish(process)
        assert code == 0, err
        assert repo.current() == "v1"

        document = show(repo)
        assert document["conclusion"] == "success"
        assert by_name(document)["deploy"]["conclusion"] == "success"
        [record] = deployments(repo, cli=True)
        assert record["environment"] == "production"
        assert record["status"] == "success"
        assert record["approved_by"] == ["bob", "carol"]
        assert record["url"] == service.url
        assert record["sha"] == document["sha"]
        assert record["started_at"] and record["finished_at"]

        hooks = wait_until(lambda: hook.bodies("/hook") if len(hook.bodies("/hook")) >= 6 else None)
        titles = [b["title"].split(":")[0].removeprefix("[stageline] ") for b in hooks]
        assert titles == [
            "run.started",
            "approval.requested",
            "approval.granted",
            "deployment.started",
            "deployment.succeeded",
            "run.finished",
        ]
        assert "approved by bob, carol" in hooks[2]["message"]
        mails = wait_until(lambda: box.messages if len(box.messages) >= 2 else None)
        subjects = [m["Subject"] for _, _, m in mails]
        assert subjects == [
            "[stageline] approval.requested: production",
            "[stageline] deployment.succeeded: production",
        ]


def test_a_reject_fails_the_deploy_with_who_and_why(tmp_path: Path) -> None:
    with environment(tmp_path) as service, webhook() as hook:
        config = RULES.format(url=service.url, hook=hook.url, smtp=1, extra="")
        config = config[: config.index("  - url: mailto")]
        repo = make_repo(tmp_path, service.state, config, environment="production")
        process = start_run(repo)
        wait_until(lambda: waiting_job(repo), what="the gate to wait")
        done = stageline(repo, "reject", "1", "--as", "carol", "-m", "not today")
        assert done.returncode == 0, done.stderr
        code, _out, _err = finish(process)
        assert code == 1
        deploy = by_name(show(repo))["deploy"]
        assert deploy["conclusion"] == "failure"
        assert deploy["reason"] == "environment 'production': rejected by carol"
        assert deployments(repo) == []
        assert not (repo.state / "current").exists()
        kinds = [b["title"] for b in hook.bodies("/hook")]
        assert "[stageline] approval.rejected: production" in kinds


def test_timeout_rejects(tmp_path: Path) -> None:
    with environment(tmp_path) as service, webhook() as hook:
        extra = "      timeout: 1s\n      on_timeout: reject\n      remind_every: 400ms\n"
        config = RULES.format(url=service.url, hook=hook.url, smtp=1, extra="")
        config = config[: config.index("  - url: mailto")].replace(
            "      prevent_self_review: true\n", "      prevent_self_review: true\n" + extra
        )
        repo = make_repo(tmp_path, service.state, config, environment="production")
        code, _out, err = finish(start_run(repo))
        assert code == 1, err
        deploy = by_name(show(repo))["deploy"]
        assert deploy["reason"] == "environment 'production': timed out after 1s without approval"
        kinds = [
            b["title"].split(":")[0].removeprefix("[stageline] ") for b in hook.bodies("/hook")
        ]
        assert kinds[:2] == ["run.started", "approval.requested"]
        assert kinds.count("approval.reminded") == 2  # at 0.4s and 0.8s, none at the timeout
        assert kinds[-3:] == ["approval.timed_out", "job.failed", "run.finished"]


def test_the_branch_policy_refuses_other_branches(tmp_path: Path) -> None:
    with environment(tmp_path) as service:
        config = RULES.format(url=service.url, hook="127.0.0.1:9", smtp=1, extra="")
        config = config[: config.index("notifications:")]
        repo = make_repo(
            tmp_path, service.state, config, environment="production", branch="feature/x"
        )
        code, _out, err = finish(start_run(repo))
        assert code == 1, err
        deploy = by_name(show(repo))["deploy"]
        assert deploy["conclusion"] == "failure"
        assert deploy["reason"] == (
            "environment 'production': branch 'feature/x' is not allowed to deploy; "
            "deployment branches allowed: main"
        )
        assert not (repo.state / "current").exists()


def test_auto_approve_expression(tmp_path: Path) -> None:
    with environment(tmp_path) as service:
        extra = (
            "      auto_approve: ${{ needs.test.result == 'success' && "
            "github.ref == 'refs/heads/main' }}\n"
        )
        config = RULES.format(url=service.url, hook="127.0.0.1:9", smtp=1, extra=extra)
        config = config[: config.index("notifications:")]
        repo = make_repo(tmp_path, service.state, config, environment="production")
        code, _out, err = finish(start_run(repo))
        assert code == 0, err
        [record] = deployments(repo)
        assert record["approved_by"] == ["auto"]


AUTO_ACTION = """name: Deliver
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo testing
  approval:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - name: Wait for Approval
        uses: hmarr/auto-approve-action@v2
  deploy:
    needs: approval
    runs-on: ubuntu-latest
    environment: production
    steps:
      - uses: actions/checkout@v4
      - run: ./deploy.sh
"""


def test_hmarr_auto_approve_action_counts_where_the_environment_allows_it(
    tmp_path: Path,
) -> None:
    config_text = """environments:
  production:
    approval:
      rules: [{{reviewers: [bob], required: 1}}]
      allow_action: true
notifications:
  - url: json://{hook}/hook
    events: [approval.*]
"""
    with environment(tmp_path) as service, webhook() as hook:
        config = config_text.format(hook=hook.url)
        repo = make_repo(tmp_path, service.state, config, workflow=AUTO_ACTION)
        code, _out, err = finish(start_run(repo))
        assert code == 0, err
        [record] = deployments(repo)
        assert record["approved_by"] == ["auto"]
        assert repo.current() == "v1"
        granted = [b for b in hook.bodies("/hook") if "approval.granted" in b["title"]]
        assert len(granted) == 2  # the action's approval, then the gate's
        assert "by: auto" in granted[0]["message"]
        assert "hmarr/auto-approve-action, job approval" in granted[1]["message"]


def test_hmarr_auto_approve_action_is_not_announced_where_it_does_not_count(
    tmp_path: Path,
) -> None:
    """Issue 13: without `allow_action` the action's approval does not count, so no
    `approval.granted` says it did; the gate's own decision (bob's) is announced."""
    config_text = """environments:
  production:
    approval:
      rules: [{{reviewers: [bob], required: 1}}]
notifications:
  - url: json://{hook}/hook
    events: [approval.*]
"""
    with environment(tmp_path) as service, webhook() as hook:
        repo = make_repo(
            tmp_path, service.state, config_text.format(hook=hook.url), workflow=AUTO_ACTION
        )
        process = start_run(repo, user="alice")
        try:
            job = wait_until(lambda: waiting_job(repo), what="the gate to wait")
            assert "0 of 1 from bob" in job["waiting_for"]
            done = stageline(repo, "approve", "1", "--as", "bob")
            assert done.returncode == 0, done.stderr
            code, _out, err = finish(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert code == 0, err
        [record] = deployments(repo)
        assert record["approved_by"] == ["bob"]
        granted = [b for b in hook.bodies("/hook") if "approval.granted" in b["title"]]
        assert [("by: bob" in g["message"], "by: auto" in g["message"]) for g in granted] == [
            (True, False)
        ]


def test_hmarr_auto_approve_action_never_overrides_the_rules(tmp_path: Path) -> None:
    """Issue 13: the action used to deploy past `required: 2` and prevent_self_review."""
    with environment(tmp_path) as service:
        extra = "      allow_action: true\n"
        config = RULES.format(url=service.url, hook="127.0.0.1:9", smtp=1, extra=extra)
        config = config[: config.index("notifications:")]
        repo = make_repo(tmp_path, service.state, config, workflow=AUTO_ACTION)
        process = start_run(repo, user="alice")
        try:
            job = wait_until(lambda: waiting_job(repo), what="the gate to wait")
            assert "0 of 2 from alice, bob, carol" in job["waiting_for"]
            for reviewer in ("bob", "carol"):
                done = stageline(repo, "approve", "1", "--as", reviewer)
                assert done.returncode == 0, done.stderr
            code, _out, err = finish(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert code == 0, err
        [record] = deployments(repo)
        assert record["approved_by"] == ["bob", "carol"]

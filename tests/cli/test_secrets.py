"""`stageline secret` through the real CLI, and what a real run's jobs get: repository
secrets reach every job, an environment's only the jobs of that environment and only
once its gate passed; --secret wins; the store never holds a value in clear text."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import stageline

ENV_SECRET = "prod-deploy-token-8d1f"
REPO_SECRET = "repo-wide-token-5c2e"

WORKFLOW = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: printf '%s|%s' "${{ secrets.DEPLOY_TOKEN }}" "${{ secrets.REPO_TOKEN }}" > "$OUT/build"
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment: production
    steps:
      - id: ship
        run: |
          printf '%s|%s' "$D" "$R" > "$OUT/deploy"
          echo "deploying with $D"
          echo "token=$D" >> "$GITHUB_OUTPUT"
        env:
          D: ${{ secrets.DEPLOY_TOKEN }}
          R: ${{ secrets.REPO_TOKEN }}
  after:
    needs: deploy
    runs-on: ubuntu-latest
    steps:
      - run: printf '%s|%s' "${{ secrets.DEPLOY_TOKEN }}" "${{ secrets.REPO_TOKEN }}" > "$OUT/after"
"""

CONFIG = """environments:
  production:
    approval:
      rules: [{reviewers: [bob]}]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (root / ".stageline.yml").write_text(CONFIG)
    out = tmp_path / "out"
    out.mkdir()
    (root / ".env").write_text(f"OUT={out}\n")
    (root / ".gitignore").write_text(".stageline/\n.env\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "alice@example.com"],
        ["config", "user.name", "alice"],
        ["add", "-A"],
        ["commit", "-qm", "init"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


def secret(repo: Path, *args: str, value: str | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    return subprocess.run(
        [sys.executable, "-m", "stageline", "secret", *args],
        cwd=repo,
        input=value,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def seen(repo: Path, job: str) -> str | None:
    path = repo.parent / "out" / job
    return path.read_text() if path.exists() else None


def waiting(repo: Path) -> bool:
    done = stageline(repo, "runs")
    return done.returncode == 0 and "waiting" in done.stdout


def wait_for(check: object, what: str) -> None:
    assert callable(check)
    deadline = time.monotonic() + 60
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def store_files(repo: Path) -> list[Path]:
    return [p for p in (repo / ".stageline").rglob("*") if p.is_file()]


def test_set_list_rm_never_show_a_value(repo: Path) -> None:
    added = secret(repo, "set", "deploy_token", "--env", "production", value=ENV_SECRET + "\n")
    assert added.returncode == 0, added.stderr
    assert "secret DEPLOY_TOKEN added for environment 'production'" in added.stdout
    assert str(repo / ".stageline" / "secrets.key") in added.stdout
    again = secret(repo, "set", "DEPLOY_TOKEN", "--env", "production", value=ENV_SECRET)
    assert "secret DEPLOY_TOKEN updated" in again.stdout
    assert secret(repo, "set", "REPO_TOKEN", value=REPO_SECRET).returncode == 0

    listed = secret(repo, "list")
    assert listed.returncode == 0, listed.stderr
    lines = [line.split() for line in listed.stdout.splitlines()]
    assert [line[:2] for line in lines] == [
        ["NAME", "ENVIRONMENT"],
        ["REPO_TOKEN", "-"],
        ["DEPLOY_TOKEN", "production"],
    ]
    for done in (added, again, listed):
        assert ENV_SECRET not in done.stdout + done.stderr
    for path in store_files(repo):
        assert ENV_SECRET.encode() not in path.read_bytes(), path

    removed = secret(repo, "rm", "DEPLOY_TOKEN", "--env", "production")
    assert removed.returncode == 0, removed.stderr
    missing = secret(repo, "rm", "DEPLOY_TOKEN", "--env", "production")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no secret DEPLOY_TOKEN of environment 'production'")
    empty = secret(repo, "set", "X", value="")
    assert empty.returncode == 1
    assert "Traceback" not in empty.stderr + missing.stderr
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    binary = subprocess.run(
        [sys.executable, "-m", "stageline", "secret", "set", "BIN"],
        cwd=repo,
        input=b"\xff\xfe",
        env=environ,
        capture_output=True,
        timeout=60,
    )
    assert binary.returncode == 1
    assert binary.stderr.decode().startswith("error: the secret's value is not UTF-8 text\n")


@pytest.mark.slow
def test_environment_secrets_reach_only_that_environment_after_its_gate(repo: Path) -> None:
    assert (
        secret(repo, "set", "DEPLOY_TOKEN", "--env", "production", value=ENV_SECRET).returncode == 0
    )
    assert secret(repo, "set", "REPO_TOKEN", value=REPO_SECRET).returncode == 0
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    run = subprocess.Popen(
        [sys.executable, "-m", "stageline", "run"],
        cwd=repo,
        env={**environ, "STAGELINE_USER": "alice"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: waiting(repo), "the gate to wait")
        assert seen(repo, "build") == f"|{REPO_SECRET}"
        assert seen(repo, "deploy") is None
        approved = stageline(repo, "approve", "1", "--as", "bob")
        assert approved.returncode == 0, approved.stderr
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, err
    assert seen(repo, "deploy") == f"{ENV_SECRET}|{REPO_SECRET}"
    assert seen(repo, "after") == f"|{REPO_SECRET}"
    assert "deploying with ***" in out
    assert ENV_SECRET not in out + err
    # who decided, as the OS and git know them, whatever --as said (issue 13 item 4)
    origin = f"local: os user {getpass.getuser()}, git alice <alice@example.com>"
    shown = stageline(repo, "show", "1")
    assert f"decision: production: approve by bob ({origin})" in shown.stdout
    listed = stageline(repo, "deployments")
    assert f"bob ({origin})" in listed.stdout
    for path in store_files(repo):
        data = path.read_bytes()
        assert ENV_SECRET.encode() not in data, path
        assert REPO_SECRET.encode() not in data, path


@pytest.mark.slow
def test_a_rejected_gate_releases_nothing(repo: Path) -> None:
    secret(repo, "set", "DEPLOY_TOKEN", "--env", "production", value=ENV_SECRET)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    run = subprocess.Popen(
        [sys.executable, "-m", "stageline", "run"],
        cwd=repo,
        env={**environ, "STAGELINE_USER": "alice"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: waiting(repo), "the gate to wait")
        assert stageline(repo, "reject", "1", "--as", "bob").returncode == 0
        run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 1
    assert seen(repo, "build") == "|"
    assert seen(repo, "deploy") is None


@pytest.mark.slow
def test_secret_on_the_command_line_wins_over_the_store(repo: Path) -> None:
    (repo / ".stageline.yml").write_text("environments:\n  production: {}\n")
    secret(repo, "set", "DEPLOY_TOKEN", "--env", "production", value=ENV_SECRET)
    secret(repo, "set", "REPO_TOKEN", value=REPO_SECRET)
    done = stageline(repo, "run", "-s", "DEPLOY_TOKEN=from-cli", "-s", "REPO_TOKEN=cli-repo")
    assert done.returncode == 0, done.stderr
    assert seen(repo, "build") == "from-cli|cli-repo"
    assert seen(repo, "deploy") == "from-cli|cli-repo"
    # without a repository secret the run starts with nothing to mask: what the gate
    # releases is masked from then on all the same
    assert secret(repo, "rm", "REPO_TOKEN").returncode == 0
    plain = stageline(repo, "run")
    assert plain.returncode == 0, plain.stderr
    assert seen(repo, "deploy") == f"{ENV_SECRET}|"  # no approval rules: released at once
    assert seen(repo, "build") == "|"
    assert "deploying with ***" in plain.stdout
    assert ENV_SECRET not in plain.stdout + plain.stderr
    for path in store_files(repo):
        assert ENV_SECRET.encode() not in path.read_bytes(), path

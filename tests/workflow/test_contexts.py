"""Where the `stageline` context may be used: the keys a deploy job evaluates after its
gate (docs/deployments.md), not those the scheduler decides before it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflow.support import at, errors_of, load, one, where

DEPLOY_JOB = """\
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: staging
    env: {MODE: "${{ stageline.rollback && 'rollback' || 'deploy' }}"}
    outputs:
      deployment: ${{ stageline.deployment }}
    steps:
      - name: deploy to ${{ stageline.environment }}
        if: ${{ !stageline.rollback }}
        env: {RESTORES: "${{ stageline.restores.sha }}"}
        run: echo "deployment ${{ stageline.deployment }}"
      - uses: ./.github/actions/notify
        with: {id: "${{ stageline.rollback_id }}"}
"""


def test_a_deploy_job_may_read_the_stageline_context_in_its_env_steps_and_outputs() -> None:
    workflow = load(DEPLOY_JOB)
    assert list(workflow.jobs) == ["deploy"]


BEFORE_THE_GATE = """\
on: push
jobs:
  deploy:
    {key}: ${{{{ stageline.environment }}}}
    environment: staging
    runs-on: ubuntu-latest
    steps: [{{run: 'true'}}]
"""


@pytest.mark.parametrize("key", ["if", "runs-on", "concurrency", "timeout-minutes", "name"])
def test_keys_decided_before_the_gate_refuse_it(key: str) -> None:
    text = BEFORE_THE_GATE.format(key=key)
    if key == "runs-on":
        text = text.replace("    runs-on: ubuntu-latest\n", "")
    found = one(errors_of(text), "Unrecognized named-value: 'stageline'")
    assert at(found) == where(text, "stageline.")
    assert found.hint is not None and "github" in found.hint
    assert "stageline" not in found.hint


def test_workflow_level_keys_refuse_it() -> None:
    text = (
        "run-name: ${{ stageline.environment }}\non: push\n"
        "jobs:\n  a:\n    runs-on: x\n    steps: [{run: 'true'}]\n"
    )
    found = one(errors_of(text), "Unrecognized named-value: 'stageline'")
    assert at(found) == where(text, "stageline.")


WORKFLOW = """\
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: staging
    env: {{WHERE: "${{{{ stageline.environment }}}}"}}
    steps:
      - if: ${{{{ !stageline.rollback }}}}
        run: echo "$WHERE deployment=${{{{ stageline.deployment }}}}" > {out}
"""


def test_a_run_gives_the_deploy_job_its_stageline_context(tmp_path: Path) -> None:
    """Validation lets it through and `stageline run` fills it in: the first deployment
    of staging, not a rollback."""
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    out = tmp_path / "out.txt"
    (repo / ".github/workflows/deploy.yml").write_text(WORKFLOW.format(out=out))
    (repo / ".stageline.yml").write_text("environments:\n  staging:\n")
    (repo / ".gitignore").write_text(".stageline/\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAGELINE_", "GIT_"))}
    git = ["git", "-c", "user.name=a", "-c", "user.email=a@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "one"]):
        subprocess.run([*git, *args], cwd=repo, env=env, check=True, capture_output=True)
    done = subprocess.run(
        [sys.executable, "-m", "stageline", "run"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.read_text() == "staging deployment=1\n"

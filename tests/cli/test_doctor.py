"""`stageline doctor`: tables for people, JSON for scripts, exit 1 when an action is missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.runner.actions.gitserver import free_port
from tests.support.cli import stageline

WORKFLOW = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: acme/absent@v1
"""


def _repo(root: Path, workflow: str) -> Path:
    (root / ".github/workflows").mkdir(parents=True)
    (root / ".github/workflows/ci.yml").write_text(workflow)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
        "STAGELINE_ACTIONS_URL": f"git://127.0.0.1:{free_port()}",
    }


@pytest.mark.slow
def test_doctor_prints_tables_and_fails_on_a_missing_action(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo", WORKFLOW)
    done = stageline(repo, "doctor", env=_env(tmp_path))
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert f"tool cache: {tmp_path / 'xdg-cache' / 'stageline' / 'toolcache'}" in out
    assert any(line.split()[:1] == ["Python"] for line in out.splitlines())
    assert any(line.split()[:1] == ["git"] for line in out.splitlines())
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if "@v" in line}
    assert rows == {"actions/checkout@v4": "built-in", "acme/absent@v1": "missing"}
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_doctor_json_and_success_when_every_action_is_at_hand(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo", WORKFLOW.replace("      - uses: acme/absent@v1\n", ""))
    done = stageline(repo, "doctor", "--json", env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    checkout = {"uses": "actions/checkout@v4", "source": "built-in", "detail": "", "used_by": ""}
    assert data["actions"] == [checkout]
    assert {"tool", "version", "arch", "target"} == set(data["tools"][0])
    assert set(data["programs"]) == {"node", "git", "java", "bwrap"}

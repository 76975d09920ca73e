"""`uses: ./path` cannot run an action from outside the commit: `validate` and `run`
refuse one at its position, and a symlink a step creates is refused when the step runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_run_cli import make_repo, stageline

pytestmark = pytest.mark.slow

ACTION = """\
runs:
  using: composite
  steps:
    - run: touch "$MARK"
      shell: bash
"""


def outside_action(tmp_path: Path) -> Path:
    action = tmp_path / "outside" / "x"
    action.mkdir(parents=True)
    (action / "action.yml").write_text(ACTION)
    return action


def workflow(uses: str, before: str = "") -> str:
    return (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"{before}      - uses: {uses}\n        env:\n          MARK: ${{{{ runner.temp }}}}/ran\n"
        '      - run: test ! -e "$RUNNER_TEMP/ran"\n'
    )


def test_validate_and_run_refuse_a_path_out_of_the_workspace(tmp_path: Path) -> None:
    action = outside_action(tmp_path)
    repo = tmp_path / "repo"
    climb = "./" + "../" * (len(repo.parts) + 2) + str(action).lstrip("/")
    text = workflow(climb)
    make_repo(repo, {".github/workflows/ci.yml": text})
    line = text[: text.index(climb)].count("\n") + 1
    expected = f".github/workflows/ci.yml:{line}:15: error: the local action '{climb}'"
    checked = stageline(repo, "validate")
    assert checked.returncode == 1
    assert expected in checked.stdout + checked.stderr
    ran = stageline(repo, "run")
    assert ran.returncode == 1
    assert expected in ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_symlink_made_by_an_earlier_step_is_refused_when_the_action_runs(
    tmp_path: Path,
) -> None:
    action = outside_action(tmp_path)
    before = f"      - run: rm -r act && ln -s {action} act\n"
    files = {".github/workflows/ci.yml": workflow("./act", before), "act/action.yml": ACTION}
    repo = make_repo(tmp_path / "repo", files)
    assert stageline(repo, "validate").returncode == 0  # the commit holds ./act itself
    ran = stageline(repo, "run")
    output = ran.stdout + ran.stderr
    assert ran.returncode == 1, output
    assert f"the local action './act' resolves outside the repository (to {action})" in output
    assert "Traceback" not in output

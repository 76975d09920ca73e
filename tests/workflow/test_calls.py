"""Checks of `jobs.<id>.uses` calls against a local callee in a real directory tree."""

from __future__ import annotations

from pathlib import Path

from stageline.workflow.calls import check_calls
from stageline.workflow.loader import load_workflow

DEPLOY = """\
on:
  workflow_call:
    inputs:
      target: {type: string, required: true}
      dry-run: {type: boolean, default: false}
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps: [{run: echo deploy}]
"""


def repo(tmp_path: Path, caller: str, callee: str = DEPLOY) -> Path:
    flows = tmp_path / ".github" / "workflows"
    flows.mkdir(parents=True)
    (flows / "deploy.yml").write_text(callee)
    (flows / "ci.yml").write_text(caller)
    return flows / "ci.yml"


def faults(tmp_path: Path, caller: str, callee: str = DEPLOY) -> list[str]:
    path = repo(tmp_path, caller, callee)
    return [d.render() for d in check_calls(load_workflow(path), tmp_path)]


def test_a_call_with_the_required_inputs_is_accepted(tmp_path: Path) -> None:
    caller = (
        "on: push\njobs:\n  staging:\n    uses: ./.github/workflows/deploy.yml\n"
        "    with: {target: staging, dry-run: true}\n    secrets: inherit\n"
    )
    assert faults(tmp_path, caller) == []


def test_a_missing_required_input_is_a_positioned_error(tmp_path: Path) -> None:
    caller = (
        "on: push\njobs:\n  staging:\n    uses: ./.github/workflows/deploy.yml\n"
        "    with:\n      dry-run: true\n"
    )
    (found,) = faults(tmp_path, caller)
    assert found.startswith(f"{tmp_path}/.github/workflows/ci.yml:6:7: error: ")
    assert "does not pass required input 'target'" in found


def test_an_unknown_input_is_a_positioned_error_with_a_guess(tmp_path: Path) -> None:
    caller = (
        "on: push\njobs:\n  staging:\n    uses: ./.github/workflows/deploy.yml\n"
        "    with:\n      target: staging\n      dryrun: true\n"
    )
    (found,) = faults(tmp_path, caller)
    assert ":7:15: error: job 'staging' passes unknown input 'dryrun'" in found
    assert "did you mean 'dry-run'?" in found


def test_a_callee_without_workflow_call_is_an_error(tmp_path: Path) -> None:
    caller = "on: push\njobs:\n  x:\n    uses: ./.github/workflows/deploy.yml\n"
    callee = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: x}]\n"
    (found,) = faults(tmp_path, caller, callee)
    assert ":4:11: error: " in found and "has no `on: workflow_call`" in found


def test_unsupported_forms_say_so_with_a_position(tmp_path: Path) -> None:
    caller = (
        "on: push\njobs:\n  remote:\n    uses: octo/repo/.github/workflows/x.yml@v1\n"
        "  legs:\n    strategy:\n      matrix: {env: [a, b]}\n"
        "    uses: ./.github/workflows/deploy.yml\n    with: {target: x}\n"
        "  gone:\n    uses: ./.github/workflows/nope.yml\n"
    )
    remote, legs, gone = faults(tmp_path, caller)
    assert ":4:11: error: " in remote and "is not supported yet" in remote
    assert ":7:15: error: " in legs and "`strategy.matrix`" in legs
    assert "not supported yet" in legs
    assert ":11:11: error: " in gone and "does not exist" in gone


def test_a_nested_call_is_not_supported_yet(tmp_path: Path) -> None:
    callee = "on: workflow_call\njobs:\n  inner:\n    uses: ./.github/workflows/ci.yml\n"
    caller = "on: push\njobs:\n  x:\n    uses: ./.github/workflows/deploy.yml\n"
    (found,) = faults(tmp_path, caller, callee)
    assert "nested calls are not supported yet" in found


def test_a_secrets_mapping_is_checked_but_inherit_is_not(tmp_path: Path) -> None:
    callee = DEPLOY.replace(
        "      dry-run: {type: boolean, default: false}\n",
        "      dry-run: {type: boolean, default: false}\n"
        "    secrets:\n      token: {required: true}\n",
    )
    caller = (
        "on: push\njobs:\n  a:\n    uses: ./.github/workflows/deploy.yml\n"
        "    with: {target: x}\n    secrets: {tokn: '${{ secrets.T }}'}\n"
        "  b:\n    uses: ./.github/workflows/deploy.yml\n"
        "    with: {target: x}\n    secrets: inherit\n"
    )
    unknown, missing = faults(tmp_path, caller, callee)
    assert ":6:14: error: job 'a' passes unknown secret 'tokn'" in unknown
    assert ":6:14: error: job 'a' does not pass required secret 'token'" in missing

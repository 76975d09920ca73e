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


def test_a_missing_callee_and_a_remote_one_say_so_with_a_position(tmp_path: Path) -> None:
    caller = (
        "on: push\njobs:\n  remote:\n    uses: octo/repo/.github/workflows/x.yml@v1\n"
        "  legs:\n    strategy:\n      matrix: {env: [a, b]}\n"
        "    uses: ./.github/workflows/deploy.yml\n    with: {target: x}\n"
        "  gone:\n    uses: ./.github/workflows/nope.yml\n"
    )
    remote, gone = faults(tmp_path, caller)
    assert ":4:11: error: " in remote and "'octo/repo/.github/workflows/x.yml@v1', not fetched" in (
        remote
    )
    assert ":11:11: error: " in gone and "does not exist" in gone


def test_a_remote_callee_comes_from_the_fetch_given(tmp_path: Path) -> None:
    elsewhere = tmp_path / "cache" / "octo" / "repo@abc" / ".github" / "workflows"
    elsewhere.mkdir(parents=True)
    (elsewhere / "x.yml").write_text(
        "on: workflow_call\njobs:\n  a:\n    uses: ./.github/workflows/y.yml\n"
    )
    (elsewhere / "y.yml").write_text("on: workflow_call\njobs:\n  b:\n    uses: ./nope.yml\n")
    fetched: list[str] = []

    def fetch(uses: str) -> Path | str | None:
        fetched.append(uses)
        if uses.endswith("@v1"):
            return elsewhere / uses.partition("workflows/")[2].partition("@")[0]
        return "no tag, branch or commit 'v9'" if uses.endswith("@v9") else None

    caller = (
        "on: push\njobs:\n  one:\n    uses: octo/repo/.github/workflows/x.yml@v1\n"
        "  two:\n    uses: octo/repo/.github/workflows/x.yml@v9\n"
        "  three:\n    uses: octo/repo/.github/workflows/x.yml@v3\n"
        "  four:\n    uses: octo/repo@v1\n"
    )
    found = check_calls(load_workflow(repo(tmp_path / "r", caller)), tmp_path / "r", fetch)
    beside, v9, shape = (d.render() for d in found)
    assert fetched == [
        "octo/repo/.github/workflows/x.yml@v1",
        "octo/repo/.github/workflows/y.yml@v1",  # its local call: same repository and ref
        "octo/repo/.github/workflows/x.yml@v9",
        "octo/repo/.github/workflows/x.yml@v3",
    ]
    assert "y.yml:4:11: error: job 'b' calls 'octo/repo/nope.yml@v1', which is not a " in beside
    assert ":6:11: error: job 'two' calls octo/repo/.github/workflows/x.yml@v9: no tag" in v9
    assert ":10:11: error: job 'four' calls 'octo/repo@v1', which is not a reusable workflow" in (
        shape
    )


def chain(tmp_path: Path, levels: int) -> Path:
    """`ci.yml` calling `w1.yml`, which calls `w2.yml`, ... down to `w<levels-1>.yml`."""
    flows = tmp_path / ".github" / "workflows"
    flows.mkdir(parents=True)
    call = "    uses: ./.github/workflows/w{n}.yml\n"
    (flows / "ci.yml").write_text("on: push\njobs:\n  go:\n" + call.format(n=1))
    for n in range(1, levels):
        body = call.format(n=n + 1) if n < levels - 1 else "    runs-on: x\n    steps: [{run: x}]\n"
        (flows / f"w{n}.yml").write_text("on: workflow_call\njobs:\n  go:\n" + body)
    return flows / "ci.yml"


def test_calls_nest_to_ten_levels_and_no_further(tmp_path: Path) -> None:
    ten = chain(tmp_path / "ten", 10)
    assert check_calls(load_workflow(ten), tmp_path / "ten") == []
    eleven = chain(tmp_path / "eleven", 11)
    (found,) = [d.render() for d in check_calls(load_workflow(eleven), tmp_path / "eleven")]
    assert "w9.yml:4:11: error: job 'go' calls ./.github/workflows/w10.yml at level 11" in found
    assert "at most 10 levels of workflows" in found
    assert "./.github/workflows/ci.yml → ./.github/workflows/w1.yml → " in found


def test_a_workflow_that_calls_itself_is_an_error(tmp_path: Path) -> None:
    callee = "on: workflow_call\njobs:\n  inner:\n    uses: ./.github/workflows/deploy.yml\n"
    caller = "on: push\njobs:\n  x:\n    uses: ./.github/workflows/deploy.yml\n"
    (found,) = faults(tmp_path, caller, callee)
    assert "deploy.yml:4:11: error: job 'inner' calls ./.github/workflows/deploy.yml" in found
    assert found.endswith("which calls itself")


def test_more_than_fifty_distinct_callees_is_an_error(tmp_path: Path) -> None:
    flows = tmp_path / ".github" / "workflows"
    flows.mkdir(parents=True)
    leaf = "on: workflow_call\njobs:\n  a:\n    runs-on: x\n    steps: [{run: x}]\n"
    jobs = ""
    for n in range(51):
        (flows / f"w{n}.yml").write_text(leaf)
        jobs += f"  j{n}:\n    uses: ./.github/workflows/w{n}.yml\n"
    (flows / "ci.yml").write_text("on: push\njobs:\n" + jobs)
    (found,) = [d.render() for d in check_calls(load_workflow(flows / "ci.yml"), tmp_path)]
    assert ":104:11: error: job 'j50' calls ./.github/workflows/w50.yml" in found
    assert "at most 50 distinct reusable workflows" in found


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


def test_a_callee_may_lower_but_not_raise_its_callers_permissions(tmp_path: Path) -> None:
    callee = DEPLOY.replace(
        "  deploy:\n",
        "  deploy:\n    permissions: {contents: write, id-token: write}\n",
    ).replace("jobs:\n", "permissions: read-all\njobs:\n")
    caller = (
        "on: push\npermissions: {contents: read}\njobs:\n"
        "  up:\n    uses: ./.github/workflows/deploy.yml\n    with: {target: x}\n"
        "  ok:\n    permissions: write-all\n    uses: ./.github/workflows/deploy.yml\n"
        "    with: {target: x}\n"
    )
    found = faults(tmp_path, caller, callee)
    assert len(found) == 2, found
    everything, deploy = found
    assert "deploy.yml:6:14: error: ./.github/workflows/deploy.yml: its `permissions` asks" in (
        everything
    )
    assert "for 'actions: read', 'artifact-metadata: read', 'attestations: read' and 16 more, " in (
        everything
    )
    assert "but the calling job 'up' allows only 'actions: none', " in everything
    assert "deploy.yml:9:18: error: " in deploy
    assert "job 'deploy' asks for 'contents: write', 'id-token: write', but the calling " in deploy
    assert "allows only 'contents: read', 'id-token: none'" in deploy


def test_nested_callers_pass_on_only_what_they_were_given(tmp_path: Path) -> None:
    inner = (
        "on: workflow_call\njobs:\n  w:\n    permissions: {packages: write}\n"
        "    runs-on: x\n    steps: [{run: x}]\n"
    )
    middle = (
        "on: workflow_call\njobs:\n  m:\n    permissions: write-all\n"
        "    uses: ./.github/workflows/inner.yml\n"
    )
    caller = (
        "on: push\njobs:\n  top:\n    permissions: {packages: read}\n"
        "    uses: ./.github/workflows/deploy.yml\n"
    )
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "inner.yml").write_text(inner)
    found = [
        d.render() for d in check_calls(load_workflow(repo_at(tmp_path, caller, middle)), tmp_path)
    ]
    assert any("job 'm' asks for 'actions: write'" in f and "job 'top' allows" in f for f in found)
    assert any(
        "inner.yml:4:18: error:" in f and "job 'w' asks for 'packages: write'" in f for f in found
    )


def repo_at(tmp_path: Path, caller: str, callee: str) -> Path:
    flows = tmp_path / ".github" / "workflows"
    (flows / "deploy.yml").write_text(callee)
    (flows / "ci.yml").write_text(caller)
    return flows / "ci.yml"


def test_a_literal_with_value_its_input_type_refuses_is_an_error(tmp_path: Path) -> None:
    callee = DEPLOY.replace(
        "      dry-run: {type: boolean, default: false}\n",
        "      dry-run: {type: boolean, default: false}\n      size: {type: number}\n",
    )
    caller = (
        "on: push\njobs:\n  a:\n    uses: ./.github/workflows/deploy.yml\n"
        "    with:\n      target: x\n      dry-run: maybe\n      size: xl\n"
        "  b:\n    uses: ./.github/workflows/deploy.yml\n"
        "    with: {target: x, dry-run: '${{ github.ref != 1 }}', size: 3}\n"
    )
    boolean, number = faults(tmp_path, caller, callee)
    assert (
        ":7:16: error: job 'a': ./.github/workflows/deploy.yml: input 'dry-run' is a boolean, "
        "got 'maybe'"
    ) in boolean
    assert "hint: give true or false" in boolean
    assert ":8:13: error: job 'a': ./.github/workflows/deploy.yml: input 'size' is a number" in (
        number
    )


def test_no_secrets_passes_none_so_a_required_one_is_missing(tmp_path: Path) -> None:
    callee = DEPLOY.replace(
        "      dry-run: {type: boolean, default: false}\n",
        "      dry-run: {type: boolean, default: false}\n"
        "    secrets:\n      token: {required: true}\n",
    )
    caller = (
        "on: push\njobs:\n  a:\n    uses: ./.github/workflows/deploy.yml\n    with: {target: x}\n"
    )
    (found,) = faults(tmp_path, caller, callee)
    assert ":4:11: error: job 'a' does not pass required secret 'token'" in found

"""Inlining a reusable workflow into the plan: ids, names and needs as GitHub names
them, the call carried as plain data that survives JSON."""

from __future__ import annotations

import json
from pathlib import Path

from stageline.plan import Event, Plan, compile_plan
from stageline.plan.calls import waits_for
from stageline.workflow.calls import load_callees
from stageline.workflow.loader import load_workflow

PUSH = Event(name="push", ref="refs/heads/main", sha="abc123", repository="o/r")

CALLEE = """\
on:
  workflow_call:
    inputs: {target: {type: string}}
    outputs: {url: {value: "${{ jobs.b.outputs.u }}"}}
jobs:
  a:
    name: Build it
    runs-on: ubuntu-latest
    steps: [{run: echo a}]
  b:
    needs: a
    runs-on: ubuntu-latest
    strategy: {matrix: {n: [1, 2]}}
    steps: [{run: echo b}]
  c:
    runs-on: ubuntu-latest
    strategy: {matrix: {t: "${{ fromJSON(inputs.target) }}"}}
    steps: [{run: echo c}]
"""

CALLER = """\
on: push
jobs:
  first:
    runs-on: ubuntu-latest
    steps: [{run: echo}]
  up:
    name: Ship
    needs: first
    if: github.ref == 'refs/heads/main'
    uses: ./.github/workflows/callee.yml
    with: {target: '["x"]'}
  after:
    needs: up
    runs-on: ubuntu-latest
    steps: [{run: echo}]
"""


def planned(tmp_path: Path, caller: str = CALLER) -> Plan:
    flows = tmp_path / ".github" / "workflows"
    flows.mkdir(parents=True)
    (flows / "callee.yml").write_text(CALLEE)
    (flows / "ci.yml").write_text(caller)
    workflow = load_workflow(flows / "ci.yml")
    callees = load_callees(workflow, tmp_path)
    assert callees.faults == []
    return compile_plan(workflow, PUSH, callees=callees.workflows)


def test_called_jobs_are_prefixed_and_their_roots_wait_for_the_callers_needs(
    tmp_path: Path,
) -> None:
    plan = planned(tmp_path)
    shown = [(j.key, j.job_id, j.name, j.needs) for j in plan.jobs]
    assert shown == [
        ("first", "first", "first", []),
        ("up / a", "up / a", "Ship / Build it", ["first"]),
        ("up / b.1", "up / b", "Ship / b (1)", ["up / a"]),
        ("up / b.2", "up / b", "Ship / b (2)", ["up / a"]),
        ("up / c", "up / c", "Ship / c", ["first"]),
        ("after", "after", "after", ["up"]),
    ]
    # a matrix that may read the call's inputs waits for run time
    assert plan.job("up / c").deferred_matrix == {"t": "${{ fromJSON(inputs.target) }}"}
    call = plan.job("up / a").call
    assert call is not None and call.job_id == call.key == "up"
    assert call.if_ == "github.ref == 'refs/heads/main'"
    assert call.with_ == {"target": '["x"]'}
    assert call.outputs == {"url": {"value": "${{ jobs.b.outputs.u }}"}}
    assert call.jobs == ["a", "b", "c"]
    assert waits_for(call) == ["first"]


def test_a_plan_with_calls_survives_json(tmp_path: Path) -> None:
    plan = planned(tmp_path)
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert again.job("up / b.2").call == plan.job("up / b.2").call


def test_a_matrix_of_calls_gives_one_call_per_leg(tmp_path: Path) -> None:
    caller = CALLER.replace(
        "    needs: first\n    if:",
        "    needs: first\n    strategy: {matrix: {env: [qa, prod]}}\n    if:",
    )
    plan = planned(tmp_path, caller)
    keys = [(j.key, j.name) for j in plan.jobs if j.key.startswith("up")]
    assert keys[:2] == [("up.1 / a", "Ship (qa) / Build it"), ("up.1 / b.1", "Ship (qa) / b (1)")]
    assert ("up.2 / a", "Ship (prod) / Build it") in keys
    leg = plan.job("up.2 / a").call
    assert leg is not None and (leg.job_id, leg.key, leg.matrix) == ("up", "up.2", {"env": "prod"})
    assert plan.job("up.2 / b.1").needs == ["up.2 / a"]

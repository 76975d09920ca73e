"""The contract's data crosses a process or a machine: a JSON round trip loses nothing."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stageline.errors import Position
from stageline.plan.model import PlannedEnvironment, PlannedJob, PlannedStep
from stageline.runner.contract import Annotation, JobRequest, JobResult, StepResult
from stageline.runner.places import LocalDirs
from stageline.runs.states import Conclusion

text = st.text(max_size=12)
names = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1, max_size=8)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_value = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)),
    max_leaves=8,
)
json_object = st.dictionaries(names, json_value, max_size=4)
strings = st.dictionaries(names, text, max_size=3)
scalars = st.dictionaries(names, scalar, max_size=3)
optional = st.none() | text
positions = st.none() | st.builds(Position, text, st.integers(1, 10**6), st.integers(1, 10**4))
minutes = st.none() | st.floats(0.1, 1e4) | text

steps = st.builds(
    PlannedStep,
    index=st.integers(0, 50),
    id=optional,
    name=optional,
    if_=optional,
    run=optional,
    shell=optional,
    uses=optional,
    with_=scalars,
    env=scalars | text,
    working_directory=optional,
    continue_on_error=st.booleans() | text,
    timeout_minutes=minutes,
    position=positions,
)

jobs = st.builds(
    PlannedJob,
    key=names,
    job_id=names,
    name=text,
    needs=st.lists(names, max_size=3),
    if_=optional,
    runs_on=json_value,
    env=scalars | text,
    defaults_shell=optional,
    defaults_working_directory=optional,
    outputs=strings,
    timeout_minutes=minutes,
    continue_on_error=st.booleans() | text,
    steps=st.lists(steps, max_size=3),
    matrix=st.none() | json_object,
    deferred_matrix=st.none() | json_object | text,
    fail_fast=st.booleans() | text,
    max_parallel=st.none() | st.integers(1, 100) | text,
    strategy_index=st.integers(0, 10),
    strategy_total=st.integers(1, 10),
    environment=st.none() | st.builds(PlannedEnvironment, names, optional),
    concurrency_group=optional,
    concurrency_cancel_in_progress=st.booleans() | text,
    services=json_object,
    container=json_value,
    position=positions,
)

local_dirs = st.builds(
    LocalDirs, text, text, text, text, text, action_dirs=st.lists(text, max_size=2)
)

requests = st.builds(
    JobRequest,
    run_id=names,
    job=jobs,
    contexts=json_object,
    sha=text,
    ref=text,
    attempt=st.integers(1, 100),
    secrets=strings,
    extra_env=strings,
    keep_workspace=st.booleans(),
    local=st.none() | local_dirs,
)

conclusions = st.sampled_from(list(Conclusion))
times = st.none() | st.floats(0, 2e9)
step_results = st.builds(
    StepResult,
    index=st.integers(0, 50),
    name=text,
    outcome=conclusions,
    conclusion=conclusions,
    outputs=strings,
    exit_code=st.none() | st.integers(-255, 255),
    started_at=times,
    finished_at=times,
    log_path=optional,
    log_size=st.none() | st.integers(0, 2**40),
    summary=text,
)
annotations = st.builds(
    Annotation,
    level=st.sampled_from(["error", "warning", "notice"]),
    message=text,
    title=optional,
    file=optional,
    line=st.none() | st.integers(1, 10**6),
    col=st.none() | st.integers(1, 10**4),
    step_index=st.none() | st.integers(0, 50),
)
results = st.builds(
    JobResult,
    conclusion=conclusions,
    outputs=strings,
    steps=st.lists(step_results, max_size=3),
    annotations=st.lists(annotations, max_size=3),
    reason=optional,
)


def _over_the_wire(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


@settings(max_examples=100, deadline=None)
@given(requests)
def test_a_request_round_trips_through_json(request: JobRequest) -> None:
    assert JobRequest.from_dict(request.to_dict()) == request
    assert JobRequest.from_dict(_over_the_wire(request.to_dict())) == request


@settings(max_examples=100, deadline=None)
@given(results)
def test_a_result_round_trips_through_json(result: JobResult) -> None:
    assert JobResult.from_dict(result.to_dict()) == result
    again = JobResult.from_dict(_over_the_wire(result.to_dict()))
    assert again == result
    assert all(isinstance(s.outcome, Conclusion) for s in again.steps)


def test_secrets_stay_out_of_repr_but_cross_in_to_dict() -> None:
    job = PlannedJob("build", "build", "build", [], None, "ubuntu-latest", {}, None, None, {}, None,
                     False, [])  # fmt: skip
    request = JobRequest("1", job, {}, "a" * 40, "refs/heads/main", secrets={"TOKEN": "s3cret"})
    assert "s3cret" not in repr(request)
    assert request.to_dict()["secrets"] == {"TOKEN": "s3cret"}
    assert request.identity == ("1", "build", 1)

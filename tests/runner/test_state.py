import asyncio
from pathlib import Path

from stageline.runner.commands import CommandProcessor
from stageline.runner.contexts import Evaluator
from stageline.runner.logs import NullLog
from stageline.runner.masking import Masker
from stageline.runner.places import local_ports
from stageline.runner.process import ProcessGroups
from stageline.runner.state import JobState, Scope
from stageline.runner.workspace import Workspace
from stageline.runs.states import Conclusion
from tests.runner.helpers import RecordingSink, dirs, job, make_repo, request, run, step


def make_state(tmp: Path) -> JobState:
    repo = make_repo(tmp)
    req = request(tmp, repo, job())
    ws = Workspace(str(tmp), str(tmp / "ws"), str(tmp / "temp"))
    masker = Masker(["s3"])
    return JobState(
        request=req,
        sink=RecordingSink(),
        ports=local_ports(dirs(req), req.sha),
        ws=ws,
        masker=masker,
        processor=CommandProcessor(masker),
        evaluator=Evaluator(lambda p: ""),
        groups=ProcessGroups(),
        github={"repository": "a/b"},
        runner={"name": "r"},
        base_env={},
        workflow_env={"W": "1"},
        cancel=asyncio.Event(),
        deadline=1e18,
    )


def test_action_names_follow_github(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    names = [
        state.action_name(None, None),
        state.action_name(None, None),
        state.action_name("build", None),
        state.action_name(None, "actions/checkout@v4"),
        state.action_name(None, "actions/checkout@v4"),
    ]
    assert names == ["__run", "__run_2", "build", "__actions_checkout", "__actions_checkout_2"]


def test_status_and_env_layers(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    assert state.status == "success"
    state.failed = True
    assert state.status == "failure"
    state.job_env, state.added_env = {"J": "2", "W": "j"}, {"A": "3"}
    assert state.env_context({"S": "4"}) == {"W": "j", "J": "2", "A": "3", "S": "4"}


def test_cancel_gives_always_steps_a_fresh_bounded_window(tmp_path: Path) -> None:
    async def go() -> tuple[bool, bool, str]:
        state = make_state(tmp_path)
        original = state.cancel
        original.set()
        state.observe_cancel()
        return state.cancel is not original, state.cancel.is_set(), state.status

    replaced, is_set, status = asyncio.run(go())
    assert replaced and not is_set and status == "cancelled"


def test_errors_are_masked_logged_and_annotated(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    state.error(Scope(index=2, log=NullLog()), "bad s3 value")
    (annotation,) = state.annotations
    assert annotation.message == "bad *** value" and annotation.step_index == 2


def test_steps_see_the_mapped_services_in_the_job_context(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    services = {
        "postgres": {"id": "", "network": "", "host": "127.0.0.1", "ports": {"5432": "5433"}}
    }
    planned = job(
        step(
            0,
            "echo port=${{ job.services.postgres.ports[5432] }} "
            "host=${{ job.services.postgres.host }} id=[${{ job.services.postgres.id }}]",
        ),
        services={"postgres": {"image": "postgres:15", "ports": ["5432:5433"]}},
        services_context=services,
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS
    assert "port=5433 host=127.0.0.1 id=[]" in sink.lines(0)

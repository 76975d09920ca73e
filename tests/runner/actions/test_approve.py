from pathlib import Path

from stageline.runs.states import Conclusion
from tests.runner.helpers import job, make_repo, request, run, step


def test_auto_approve_records_an_approval_and_passes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, uses="hmarr/auto-approve-action@v2", name="Wait for Approval"), key="approval"
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS
    (event,) = sink.events("approval.auto")
    assert event["job"] == "approval" and event["step"] == 0
    assert event["step_name"] == "Wait for Approval"

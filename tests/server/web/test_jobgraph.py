"""The run page's graph: stages by longest path, matrix legs in one box, worst status wins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stageline.server.web.jobgraph import stages
from stageline.store.records import JobRecord


def job(key: str, needs: list[str], status: str = "queued", **kw: Any) -> JobRecord:
    job_id = kw.pop("job_id", key)
    conclusion = kw.pop("conclusion", None)
    return JobRecord(
        id=hash(key) & 0xFFFF, key=key, job_id=job_id, name=kw.pop("name", key), needs=needs,
        matrix=kw.pop("matrix", None), environment=None, concurrency_group=None, status=status,
        conclusion=conclusion, outputs={}, created_at=datetime.now(UTC), started_at=None,
        finished_at=None, waiting_for=None, reason=None,
    )  # fmt: skip


def test_stage_is_the_longest_path_from_a_root() -> None:
    jobs = [
        job("build", []),
        job("lint", []),
        job("unit", ["build"]),
        job("e2e", ["unit"]),
        job("deploy", ["build", "e2e", "lint"]),
    ]
    columns = [[n.job_id for n in column] for column in stages(jobs)]
    assert columns == [["build", "lint"], ["unit"], ["e2e"], ["deploy"]]


def test_matrix_legs_share_a_box_with_the_worst_status() -> None:
    legs = [
        job("test (3.11)", ["build"], "completed", job_id="test", conclusion="success",
            matrix={"py": "3.11"}),
        job("test (3.12)", ["build"], "completed", job_id="test", conclusion="failure",
            matrix={"py": "3.12"}),
        job("test (3.13)", ["build"], "in_progress", job_id="test", matrix={"py": "3.13"}),
    ]  # fmt: skip
    columns = stages([job("build", [], "completed", conclusion="success"), *legs])
    build, test = columns[0][0], columns[1][0]
    assert (build.status, build.is_matrix) == ("success", False)
    assert (test.name, test.status, test.is_matrix, len(test.legs)) == ("test", "failure", True, 3)


def test_completed_without_conclusion_is_neutral() -> None:
    (column,) = stages([job("a", [], "completed")])
    assert column[0].status == "neutral"

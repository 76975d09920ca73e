"""Reading runs, a run and its logs through the services."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.app import context, reads, runs
from stageline.engine.setup import RunOptions
from stageline.errors import RunError


def test_nothing_to_read_before_a_run(repo: Path) -> None:
    with pytest.raises(context.NoRecordError):
        reads.runs(repo)


def test_runs_run_and_logs(repo: Path) -> None:
    for _ in range(2):
        assert runs.start(runs.prepare(RunOptions(cwd=repo))).exit_code == 0
    listed = reads.runs(repo, limit=1)
    assert [(r.id, r.number, r.conclusion) for r in listed] == [(2, 2, "success")]
    detail = reads.run(repo, 1)
    assert [j.key for j in detail.jobs] == ["build", "test"]
    chunks = list(reads.logs(repo, 1))
    assert [(c.job, c.first) for c in chunks] == [("build", True), ("test", True)]
    assert chunks[1].lines[-1].endswith("tested")
    with pytest.raises(RunError, match="run 1 has no job 'nope'") as err:
        list(reads.logs(repo, 1, "nope"))
    assert err.value.hint == "jobs: build, test"

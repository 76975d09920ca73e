"""Which actions a worker fetches from the server before a job."""

from __future__ import annotations

from stageline.worker.remote import remote_uses
from tests.engine.conftest import job, step


def test_only_other_repositories_actions_are_fetched() -> None:
    steps = [
        step(0, None, uses="actions/checkout@v4"),
        step(1, None, uses="actions/cache/save@v4"),
        step(2, None, uses="./local-action"),
        step(3, None, uses="docker://alpine"),
        step(4, None, uses="acme/lint@v1"),
        step(5, None, uses="acme/tools/format@main"),
        step(6, None, uses="acme/lint@v1"),
        step(7, "echo hi"),
    ]
    assert remote_uses(job("build", steps=steps)) == ["acme/lint@v1", "acme/tools/format@main"]

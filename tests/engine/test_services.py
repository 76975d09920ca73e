"""A job's `services:` mapped to services running on this machine, before the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.deploy.config import ServiceConfig
from stageline.engine.setup import RunOptions, prepare
from stageline.errors import Position, WorkflowError
from tests.engine.test_setup import repo

WORKFLOW = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: postgres:15
        ports: ["5432:5432"]
      redis: redis:7
    steps:
      - run: echo test
"""


def host(name: str, port: int | None = None, **ports: int) -> ServiceConfig:
    return ServiceConfig(
        Position(".stageline.yml"),
        name=name,
        port=port,
        ports={int(k.removeprefix("p")): v for k, v in ports.items()},
    )


def prepared_context(tmp_path: Path, text: str, **services: ServiceConfig) -> object:
    root = repo(tmp_path, {".github/workflows/ci.yml": text})
    options = RunOptions(cwd=root, service_hosts=lambda _: services)
    (spec,) = prepare(options).specs
    (job,) = spec.plan.jobs
    return job.services_context


def test_mapped_services_give_the_job_context_github_gives(tmp_path: Path) -> None:
    context = prepared_context(
        tmp_path,
        WORKFLOW,
        postgres=host("postgres", 5433),
        redis=host("redis", p6379=6380, p8001=8001),
    )
    assert context == {
        "postgres": {"id": "", "network": "", "host": "127.0.0.1", "ports": {"5432": "5433"}},
        "redis": {
            "id": "",
            "network": "",
            "host": "127.0.0.1",
            "ports": {"6379": "6380", "8001": "8001"},
        },
    }


def test_a_port_without_declared_ports_maps_to_itself(tmp_path: Path) -> None:
    text = WORKFLOW.replace('        ports: ["5432:5432"]\n', "")
    context = prepared_context(
        tmp_path, text, postgres=host("postgres", 5433), redis=host("redis", 6379)
    )
    assert context == {
        "postgres": {"id": "", "network": "", "host": "127.0.0.1", "ports": {"5433": "5433"}},
        "redis": {"id": "", "network": "", "host": "127.0.0.1", "ports": {"6379": "6379"}},
    }


def test_an_unmapped_service_fails_before_the_run_saying_how_to_map_it(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": WORKFLOW})
    options = RunOptions(cwd=root, service_hosts=lambda _: {"redis": host("redis", 6379)})
    with pytest.raises(WorkflowError) as caught:
        prepare(options)
    assert str(caught.value) == (
        ".github/workflows/ci.yml:6:7: error: job 'test' needs service 'postgres', which is "
        "not mapped to a service running on this machine (Stageline runs no service containers)"
        "\n  hint: map it in .stageline.yml: services: {postgres: {host: 127.0.0.1, port: PORT}}"
    )


def test_without_a_mapping_every_service_is_reported(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": WORKFLOW})
    with pytest.raises(WorkflowError) as caught:
        prepare(RunOptions(cwd=root))
    assert [d.message.split(",")[0] for d in caught.value.diagnostics] == [
        "job 'test' needs service 'postgres'",
        "job 'test' needs service 'redis'",
    ]


def test_ports_the_job_declares_must_be_mapped(tmp_path: Path) -> None:
    text = WORKFLOW.replace('["5432:5432"]', '["5432:5432", "127.0.0.1:9187:9187/tcp"]')
    root = repo(tmp_path, {".github/workflows/ci.yml": text})
    for postgres, problem in [
        (
            host("postgres", 5432),
            "service 'postgres': the job exposes ports 5432, 9187 but .stageline.yml gives "
            "one `port`; map each with `ports: {CONTAINER: HOST}`",
        ),
        (
            host("postgres", p5432=5432),
            "service 'postgres': container port 9187 is not mapped under its `ports`",
        ),
    ]:
        options = RunOptions(
            cwd=root, service_hosts=lambda _, p=postgres: {"postgres": p, "redis": host("r", 1)}
        )
        with pytest.raises(WorkflowError) as caught:
            prepare(options)
        assert [d.message for d in caught.value.diagnostics] == [problem]


def test_a_container_job_keeps_its_services_unchecked(tmp_path: Path) -> None:
    text = WORKFLOW.replace("    services:\n", "    container: node:20\n    services:\n")
    assert prepared_context(tmp_path, text) == {}


def test_a_job_without_services_reads_no_mapping(tmp_path: Path) -> None:
    def refuse(root: Path) -> dict[str, ServiceConfig]:
        raise AssertionError("read without need")

    text = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: x}]\n"
    root = repo(tmp_path, {".github/workflows/ci.yml": text})
    (spec,) = prepare(RunOptions(cwd=root, service_hosts=refuse)).specs
    assert spec.plan.jobs[0].services_context == {}

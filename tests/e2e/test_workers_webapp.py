"""The example webapp's pipeline (`examples/webapp`, the one `stageline demo` runs) over
two Celery workers gives the record the local executor gives (issue 9): the same jobs,
conclusions, steps and outputs, and the same deployments to staging and production,
behind the same gates and bake windows, which the server keeps.

Every job of the pipeline is `runs-on: ubuntu-latest`, so both workers serve the one
queue `default`; with one slot each, the two test jobs that run at once land on both.

The server has no `vars`: the copy of the example gives its three (`DEPLOY_ROOT`,
`STAGING_PORT`, `PRODUCTION_PORT`) as literals, each cluster its own root and ports, as
`stageline demo` rewrites `.stageline.yml`'s ports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stageline.cli.demo import PORTS, find_example
from tests.support.http import free_port
from tests.support.workers import Cluster, cluster, redis_server, shape

pytestmark = pytest.mark.slow

WORKFLOW = ".github/workflows/pipeline.yml"
SKIPPED = ("__pycache__", "dist", ".stageline")


def webapp_files(deploy_root: Path, ports: dict[str, int]) -> dict[str, str]:
    """The example's files, its vars and ports made this cluster's own."""
    example = find_example()
    files: dict[str, str] = {}
    for path in sorted(example.rglob("*")):
        relative = path.relative_to(example)
        if path.is_dir() or any(part in SKIPPED for part in relative.parts):
            continue
        if path.suffix == ".pyc":
            continue
        text = path.read_text()
        for env_name, port in PORTS.items():
            text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{ports[env_name]}")
        files[str(relative)] = text
    pipeline = files[WORKFLOW]
    for name, value in (
        ("vars.DEPLOY_ROOT", str(deploy_root)),
        ("vars.STAGING_PORT || '18081'", str(ports["staging"])),
        ("vars.PRODUCTION_PORT || '18082'", str(ports["production"])),
    ):
        assert "${{ " + name + " }}" in pipeline, name
        pipeline = pipeline.replace("${{ " + name + " }}", value)
    files[WORKFLOW] = pipeline
    return files


@pytest.fixture
def deploy_roots(tmp_path: Path) -> Iterator[dict[str, tuple[Path, dict[str, int]]]]:
    """Per cluster a deploy root and service ports; the services its deploys started
    are stopped at the end."""
    made = {
        name: (tmp_path / f"deploy-{name}", {env: free_port() for env in PORTS})
        for name in ("local", "celery")
    }
    yield made
    stop = find_example() / "deploy" / "stop.sh"
    for root, _ in made.values():
        for env_name in PORTS:
            subprocess.run(
                [str(stop), env_name],
                env={**os.environ, "STAGELINE_DEPLOY_ROOT": str(root)},
                capture_output=True,
                timeout=60,
                check=False,
            )


def deployments(team: Cluster) -> list[dict[str, Any]]:
    answer = team.http.get("/api/v1/deployments")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return sorted(found, key=lambda d: d["id"])


def neutral(value: Any, document: dict[str, Any], ports: dict[str, int]) -> Any:
    """`value` with the run's release (its sha's first 12 digits), the cluster's ports and
    a job's temp dir (`runner.temp`: where it is, is the executor's business) written as
    RELEASE, PORT-ENV and TEMP."""
    text = json.dumps(value).replace(document["sha"][:12], "RELEASE")
    text = re.sub(r'"[^"]*/temp/[^/"]*', '"TEMP', text)
    for env_name, port in ports.items():
        text = text.replace(f":{port}", f":PORT-{env_name}")
    return json.loads(text)


def record(team: Cluster, document: dict[str, Any], ports: dict[str, int]) -> tuple[Any, list[Any]]:
    """The run's shape and its deployments, free of what differs between clusters."""
    deploys = [
        {
            "environment": d["environment"],
            "kind": d["kind"],
            "status": d["status"],
            "job": d["job"],
            "ref": d["ref"],
            "approved_by": d["approved_by"],
            "url": d["url"],
            "reason": d["reason"],
            "same_run": d["run_id"] == document["run_id"],
        }
        for d in deployments(team)
    ]
    return neutral(shape(document, team.root), document, ports), neutral(deploys, document, ports)


def test_the_webapp_pipeline_over_two_workers_gives_the_local_record(
    tmp_path: Path, deploy_roots: dict[str, tuple[Path, dict[str, int]]]
) -> None:
    root, ports = deploy_roots["local"]
    with cluster(tmp_path / "local", webapp_files(root, ports), executor="local") as local:
        expected = local.finished(local.push(), timeout=300)
        want_run, want_deploys = record(local, expected, ports)
    assert expected["conclusion"] == "success", local.diagnostics()
    assert [d["environment"] for d in want_deploys] == ["staging", "production"]

    root, ports = deploy_roots["celery"]
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", webapp_files(root, ports), broker=redis.url) as team,
    ):
        team.start_worker("web-1", concurrency=1)
        team.start_worker("web-2", concurrency=1)
        document = team.finished(team.push(), timeout=300)
        got_run, got_deploys = record(team, document, ports)
        runner_names = {job["job_id"]: job["runner_name"] for job in document["jobs"]}

    for job, wanted in want_run["jobs"].items():
        assert got_run["jobs"][job] == wanted, team.diagnostics()
    assert got_run == want_run
    assert got_deploys == want_deploys
    # integration and e2e ran at once, one on each worker (one slot each)
    assert set(runner_names.values()) == {"web-1", "web-2"}, runner_names
    assert runner_names["integration"] != runner_names["e2e"]

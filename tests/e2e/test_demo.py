"""`stageline demo`: the example project delivered, then a broken release rolled back on
its own; checked against the record (`stageline show/deployments --json`), the deploy
directories, the demo repository's git history and the live services `--keep` leaves."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import stageline
from stageline.cli.demo import BROKEN_MESSAGE, PORTS, find_example, preferred_ports, prepare
from stageline.errors import RunError
from tests.support.git import git

STAGES = [
    ("build", []),
    ("integration", ["build"]),
    ("e2e", ["build"]),
    ("deploy-staging", ["build", "integration", "e2e"]),
    ("approval", ["deploy-staging"]),
    ("deploy-production", ["build", "approval"]),
]


def environ(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env["TMPDIR"] = str(tmp)  # the demo's temp copy lands in the test's directory
    return env


def cli(*args: str, cwd: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        cwd=cwd,
        env=environ(tmp),
        capture_output=True,
        text=True,
        timeout=240,
    )


def cli_json(*args: str, cwd: Path, tmp: Path) -> Any:
    done = cli(*args, "--json", cwd=cwd, tmp=tmp)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def demo_of(example: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """`stageline demo --json` on another copy of the example project, on ports of its
    own (never the preferred ones, which a concurrent test's demo may be about to bind)."""
    patched = (
        "import sys; from pathlib import Path; import stageline.cli.demo as demo; "
        f"demo.find_example = lambda: Path({str(example)!r}); "
        "free = demo.free_port; demo.free_port = lambda preferred: free(0); "
        "from stageline.cli.app import main; sys.argv = ['stageline', 'demo', '--json']; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", patched],
        env=environ(tmp),
        capture_output=True,
        text=True,
        timeout=240,
    )


def copy_example(tmp: Path) -> Path:
    example = tmp / "webapp"
    shutil.copytree(find_example(), example, ignore=shutil.ignore_patterns("__pycache__"))
    return example


def by_job(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_id"]: job for job in document["jobs"]}


def health(url: str) -> dict[str, str] | None:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return json.loads(reply.read())
    except (urllib.error.URLError, OSError):
        return None


@contextmanager
def occupied(port: int) -> Iterator[None]:
    """Listen on `port` meanwhile, so a demo has to pick another (if something else
    listens there already, it has to anyway)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            pass
        yield


@pytest.mark.slow
def test_the_demo_ships_a_release_then_rolls_a_broken_one_back(tmp_path: Path) -> None:
    # Staging's preferred port is taken: the demo must move the service and its monitor.
    with occupied(PORTS["staging"]):
        done = cli("demo", "--keep", "--json", cwd=tmp_path, tmp=tmp_path)
    report = json.loads(done.stdout) if done.stdout.startswith("{") else {}
    services = report.get("services", {})
    repo = Path(report.get("repository", tmp_path))
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        assert report["ok"] is True
        assert repo.is_relative_to(tmp_path)
        port = int(services["staging"].rsplit(":", 1)[1])
        assert port != PORTS["staging"]
        config = (repo / ".stageline.yml").read_text()
        assert f"url: http://127.0.0.1:{port}/health" in config
        assert f":{PORTS['staging']}" not in config
        # Two commits on main: the demo's project, then the broken release on top.
        good, bad = git(repo, "rev-parse", "HEAD~1"), git(repo, "rev-parse", "HEAD")
        assert git(repo, "log", "-1", "--format=%s") == BROKEN_MESSAGE
        assert git(repo, "rev-list", "--count", "HEAD") == "2"
        assert report["releases"] == {"good": good[:12], "broken": bad[:12]}

        # Run 1: every stage in order, all succeeded; the record says the same.
        first, second = report["runs"]
        assert first["sha"] == good
        jobs = by_job(first)
        assert sorted(jobs) == sorted(job for job, _ in STAGES)
        assert {job["conclusion"] for job in jobs.values()} == {"success"}
        for job, needs in STAGES:
            for need in needs:
                finished = datetime.fromisoformat(jobs[need]["finished_at"])
                assert finished <= datetime.fromisoformat(jobs[job]["started_at"]), (job, need)
        shown = cli_json("show", str(first["run_id"]), cwd=repo, tmp=tmp_path)
        assert shown["conclusion"] == "success"
        assert {k: v["conclusion"] for k, v in by_job(shown).items()} == {
            k: v["conclusion"] for k, v in jobs.items()
        }

        # Run 2: the broken release passed its tests, failed staging's bake window and
        # was rolled back; production was never reached.
        shown = cli_json("show", str(second["run_id"]), cwd=repo, tmp=tmp_path)
        assert (shown["sha"], shown["conclusion"]) == (bad, "failure")
        jobs = by_job(shown)
        for job in ("build", "integration", "e2e"):
            assert jobs[job]["conclusion"] == "success", job
        for job in ("approval", "deploy-production"):
            assert jobs[job]["conclusion"] == "skipped", job
        reason = jobs["deploy-staging"]["reason"]
        assert jobs["deploy-staging"]["conclusion"] == "failure"
        assert reason.startswith("check 'health' failed 2 time(s) (failure_limit 1): ")
        assert "status 500, expected 200" in reason

        records = list(reversed(cli_json("deployments", cwd=repo, tmp=tmp_path)))
        staging = [d for d in records if d["environment"] == "staging"]
        production = [d for d in records if d["environment"] == "production"]
        assert [(d["kind"], d["run_id"], d["sha"]) for d in staging] == [
            ("deploy", first["run_id"], good),
            ("deploy", second["run_id"], bad),
            ("rollback", second["run_id"], good),
        ]
        shipped, broken, rollback = staging
        assert [d["status"] for d in staging] == ["inactive", "rolled_back", "success"]
        assert (rollback["replaces"], rollback["restores"]) == (broken["id"], shipped["id"])
        assert rollback["triggered_by"] == "auto"
        assert reason.endswith(
            f"staging rolled back to deployment #{shipped['id']} ({good[:7]}) "
            f"in place of deployment #{broken['id']} ({bad[:7]})"
        )
        assert [(d["status"], d["sha"], d["approved_by"]) for d in production] == [
            ("success", good, ["auto"])
        ]
        assert report["deployments"] == list(reversed(records))
        # environment.url (`${{ steps.deploy.outputs.url }}`) evaluated after each job.
        for d in records:
            assert d["url"] == services[d["environment"]], d

        # Both services are healthy on the first release; staging's `current` was swapped
        # back, with the broken release still unpacked beside it.
        deploy_root = Path(report["deploy_root"])
        for env_name, url in services.items():
            assert os.readlink(deploy_root / env_name / "current") == f"releases/{good[:12]}"
            assert health(url) == {"status": "ok", "version": "1.0.0", "release": good[:12]}
        assert (deploy_root / "staging/releases" / bad[:12] / "webapp/app.py").is_file()
        assert not (deploy_root / "production/releases" / bad[:12]).exists()
        log = (deploy_root / "staging/service.log").read_text()
        assert "AttributeError: 'Config' object has no attribute 'relase'" in log
    finally:
        for env_name in services:
            subprocess.run(
                ["bash", str(repo / "deploy/stop.sh"), env_name],
                env={**os.environ, "STAGELINE_DEPLOY_ROOT": report["deploy_root"]},
                capture_output=True,
                check=False,
            )
    for url in services.values():
        assert health(url) is None

    # Without --keep the demo stops what it started (in this same test: two demos at
    # once would race for the same preferred ports).
    done = cli("demo", "--json", cwd=tmp_path, tmp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert (report["ok"], report["kept"]) == (True, False)
    for env_name, url in report["services"].items():
        assert health(url) is None
        assert (Path(report["deploy_root"]) / env_name / "current").is_symlink()
        assert not (Path(report["deploy_root"]) / env_name / "service.pid").exists()
    assert "stopped the staging and production services" in done.stderr
    assert "demo: the story happened as told" in done.stderr


@pytest.mark.slow
def test_a_broken_release_no_monitor_catches_fails_the_demo(tmp_path: Path) -> None:
    """Without staging's and production's monitors the broken release goes live: the
    demo must say its story did not happen, and exit 1."""
    example = copy_example(tmp_path)
    (example / ".stageline.yml").write_text(
        "environments:\n  staging:\n  production:\n    branches: [main]\n"
    )
    done = demo_of(example, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    second = report["runs"][1]
    assert second["conclusion"] == "success"  # nothing watched: the bug shipped
    failed = [check["what"] for check in report["story"] if not check["ok"]]
    assert len(failed) == 4, report["story"]
    assert failed[0].startswith(f"run #{second['number']} failed, as it must")
    assert failed[-1].startswith(f"production never got {report['releases']['broken']}")
    assert "demo: it did not" in done.stderr


@pytest.mark.slow
def test_a_failing_pipeline_fails_the_demo_and_deploys_nothing(tmp_path: Path) -> None:
    example = copy_example(tmp_path)
    (example / "tests/unit/test_broken.py").write_text(
        "import unittest\n\n\nclass Broken(unittest.TestCase):\n"
        "    def test_fails(self) -> None:\n        self.assertEqual(1, 2)\n"
    )
    done = demo_of(example, tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    [run] = report["runs"]  # no second act after a failed first
    jobs = by_job(run)
    assert run["conclusion"] == "failure"
    assert jobs["build"]["conclusion"] == "failure"
    for job in ("integration", "e2e", "deploy-staging", "approval", "deploy-production"):
        assert jobs[job]["conclusion"] == "skipped", job
    assert report["deployments"] == []
    assert not Path(report["deploy_root"]).exists()


def test_one_demo_at_a_time_takes_the_preferred_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with preferred_ports() as first, preferred_ports() as second:
        assert (first, second) == (True, False)
    with preferred_ports() as third:
        assert third is True


def test_a_demo_on_other_ports_points_its_monitors_at_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    setup = prepare(find_example(), preferred=False)
    assert setup.repo.is_relative_to(tmp_path)
    assert set(setup.ports) == set(PORTS)
    assert not set(setup.ports.values()) & set(PORTS.values())
    config = (setup.repo / ".stageline.yml").read_text()
    for env_name, port in setup.ports.items():
        assert f"url: http://127.0.0.1:{port}/health" in config, env_name
    assert git(setup.repo, "status", "--porcelain") == ""  # committed as written
    assert git(setup.repo, "branch", "--show-current") == "main"


def test_the_demo_project_is_found_next_to_the_package() -> None:
    example = find_example()
    assert example == Path(stageline.__file__).resolve().parents[2] / "examples" / "webapp"


def test_without_the_checkout_the_demo_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = tmp_path / "site-packages" / "stageline" / "__init__.py"
    installed.parent.mkdir(parents=True)
    installed.touch()
    monkeypatch.setattr(stageline, "__file__", str(installed))
    with pytest.raises(RunError) as caught:
        find_example()
    assert "examples/webapp/ was not found" in caught.value.message
    assert caught.value.hint is not None and "pip install -e ." in caught.value.hint

"""`stageline demo`: the example project's pipeline end to end, checked against its record,
its deploy directories and the live services it leaves behind with `--keep`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import stageline
from stageline.cli.demo import find_example
from stageline.errors import RunError

STAGES = [
    ("build", []),
    ("integration", ["build"]),
    ("e2e", ["build"]),
    ("deploy-staging", ["build", "integration", "e2e"]),
    ("approval", ["deploy-staging"]),
    ("deploy-production", ["build", "approval"]),
]


def cli(*args: str, cwd: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env["TMPDIR"] = str(tmp)  # the demo's temp copy lands in the test's directory
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def jobs_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = document["jobs"]
    if isinstance(jobs, dict):
        return {job.get("job_id", key): job for key, job in jobs.items()}
    return {job.get("job_id", job.get("key")): job for job in jobs}


def health(url: str) -> dict[str, str] | None:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return json.loads(reply.read())
    except (urllib.error.URLError, OSError):
        return None


@pytest.mark.slow
def test_demo_deploys_both_environments_and_stops_them_unless_kept(tmp_path: Path) -> None:
    done = cli("demo", "--keep", "--json", cwd=tmp_path, tmp=tmp_path)
    report = json.loads(done.stdout) if done.stdout.startswith("{") else {}
    services = report.get("services", {})
    repo = Path(report.get("repository", tmp_path))
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        assert repo.is_relative_to(tmp_path)
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        release = head[:12]

        jobs = jobs_of(report["run"])
        assert sorted(jobs) == sorted(job for job, _ in STAGES)
        assert {job["conclusion"] for job in jobs.values()} == {"success"}
        for job, needs in STAGES:
            for need in needs:
                finished = datetime.fromisoformat(jobs[need]["finished_at"])
                assert finished <= datetime.fromisoformat(jobs[job]["started_at"]), (job, need)

        # The record says the same as the run's JSON.
        shown = cli("show", str(report["run"]["run_id"]), "--json", cwd=repo, tmp=tmp_path)
        assert shown.returncode == 0, shown.stderr
        recorded = jobs_of(json.loads(shown.stdout))
        assert {k: v["conclusion"] for k, v in recorded.items()} == {
            k: v["conclusion"] for k, v in jobs.items()
        }

        # Both environments serve the commit the demo made, from the atomic `current` link.
        deploy_root = Path(report["deploy_root"])
        for env_name, url in services.items():
            assert os.readlink(deploy_root / env_name / "current") == f"releases/{release}"
            assert health(url) == {"status": "ok", "version": "1.0.0", "release": release}
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
    assert report["kept"] is False
    assert report["run"]["conclusion"] == "success"
    for env_name, url in report["services"].items():
        assert health(url) is None
        assert (Path(report["deploy_root"]) / env_name / "current").is_symlink()
        assert not (Path(report["deploy_root"]) / env_name / "service.pid").exists()
    assert "stopped the staging and production services" in done.stderr


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


@pytest.mark.slow
def test_a_failing_pipeline_fails_the_demo_and_deploys_nothing(tmp_path: Path) -> None:
    example = tmp_path / "webapp"
    shutil.copytree(find_example(), example, ignore=shutil.ignore_patterns("__pycache__"))
    (example / "tests/unit/test_broken.py").write_text(
        "import unittest\n\n\nclass Broken(unittest.TestCase):\n"
        "    def test_fails(self) -> None:\n        self.assertEqual(1, 2)\n"
    )
    patched = (
        "import sys; from pathlib import Path; import stageline.cli.demo as demo; "
        f"demo.find_example = lambda: Path({str(example)!r}); "
        "from stageline.cli.app import main; sys.argv = ['stageline', 'demo', '--json']; main()"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", patched], env=env, capture_output=True, text=True, timeout=240
    )

    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    jobs = jobs_of(report["run"])
    assert report["run"]["conclusion"] == "failure"
    assert jobs["build"]["conclusion"] == "failure"
    for job in ("integration", "e2e", "deploy-staging", "approval", "deploy-production"):
        assert jobs[job]["conclusion"] == "skipped", job
    assert not Path(report["deploy_root"]).exists()

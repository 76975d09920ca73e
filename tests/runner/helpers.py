"""Shared test scaffolding for the runner: a real git repository and a recording sink."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stageline.plan.model import PlannedJob, PlannedStep
from stageline.runner.contract import Annotation, JobRequest, JobResult, StepResult
from stageline.runner.job import run_job
from stageline.runner.places import LocalDirs, local_ports
from stageline.runner.ports import JobPorts
from tests.support.plans import planned_step

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    return result.stdout.strip()


def make_repo(root: Path, files: Mapping[str, str] | None = None, branch: str = "main") -> Path:
    """A git repository with one commit holding `files` (path → content; '+x' suffix on the
    key marks an executable)."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", branch)
    commit_files(repo, files or {"README.md": "hello\n"}, "initial")
    return repo


def commit_files(repo: Path, files: Mapping[str, str], message: str) -> str:
    for name, content in files.items():
        executable = name.endswith("+x")
        name = name.removesuffix("+x")
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        if executable:
            path.chmod(0o755)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@dataclass
class RecordingSink:
    """A JobSink that keeps everything, in order."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def step_started(self, index: int, name: str, log_path: str | None = None) -> None:
        self.calls.append(("started", (index, name)))

    def log(self, index: int, line: str) -> None:
        self.calls.append(("log", (index, line)))

    def step_finished(self, result: StepResult) -> None:
        self.calls.append(("finished", result))

    def annotation(self, annotation: Annotation) -> None:
        self.calls.append(("annotation", annotation))

    def event(self, name: str, data: dict[str, Any]) -> None:
        self.calls.append(("event", (name, data)))

    def heartbeat(self) -> None:
        self.calls.append(("heartbeat", None))

    def lines(self, index: int | None = None) -> list[str]:
        return [v[1] for k, v in self.calls if k == "log" and (index is None or v[0] == index)]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [v[1] for k, v in self.calls if k == "event" and v[0] == name]


def step(index: int, run: str | None = None, **fields: Any) -> PlannedStep:
    return planned_step(index, run, **fields)


def job(*steps: PlannedStep, key: str = "build", **fields: Any) -> PlannedJob:
    values: dict[str, Any] = {
        "key": key,
        "job_id": key,
        "name": key,
        "needs": [],
        "if_": None,
        "runs_on": "ubuntu-latest",
        "env": {},
        "defaults_shell": None,
        "defaults_working_directory": None,
        "outputs": {},
        "timeout_minutes": None,
        "continue_on_error": False,
        "steps": list(steps),
    }
    values.update(fields)
    return PlannedJob(**values)


def request(tmp: Path, repo: Path, planned: PlannedJob, **fields: Any) -> JobRequest:
    sha = git(repo, "rev-parse", "HEAD")
    branch = git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    contexts = {
        "github": {
            "repository": "acme/widget",
            "event_name": "push",
            "actor": "octocat",
            "ref": f"refs/heads/{branch}",
            "sha": sha,
            "event": {"ref": f"refs/heads/{branch}", "head_commit": {"id": sha}},
        },
        "env": {},
        "vars": {},
        "inputs": {},
        "needs": {},
        "matrix": {},
        "strategy": {},
    }
    dirs: dict[str, Any] = {
        "repo_dir": str(repo),
        "work_root": str(tmp / "work"),
        "artifacts_dir": str(tmp / "artifacts"),
        "cache_dir": str(tmp / "cache"),
        "log_dir": str(tmp / "logs"),
        "action_dirs": [],
    }
    values: dict[str, Any] = {
        "run_id": "run-1",
        "job": planned,
        "contexts": contexts,
        "sha": sha,
        "ref": f"refs/heads/{branch}",
    }
    for name, value in fields.items():
        (dirs if name in dirs else values)[name] = value
    return JobRequest(**values, local=LocalDirs(**dirs))


def dirs(req: JobRequest) -> LocalDirs:
    assert req.local is not None
    return req.local


def ports(req: JobRequest) -> JobPorts:
    return local_ports(dirs(req), req.sha)


def run(req: JobRequest, cancel: asyncio.Event | None = None) -> tuple[JobResult, RecordingSink]:
    sink = RecordingSink()

    async def go() -> JobResult:
        return await run_job(req, sink, cancel or asyncio.Event(), ports(req), kill_grace=1.0)

    return asyncio.run(go()), sink

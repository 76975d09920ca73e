"""`stageline demo`: the example project's multi-stage pipeline, end to end, in a temp copy.

The demo copies `examples/webapp` (found next to the installed package: the README
installs Stageline from a checkout with `pip install -e .`) into a new temp directory,
makes it a git repository with one commit on `main`, and runs its workflow the way
`stageline run` does: build, lint and unit tests → integration and e2e tests →
staging → approval → production. The two deploys start real background services of
the example on 127.0.0.1; the demo stops them at the end unless `--keep`. The temp
directory stays: it holds the run's record and logs, and the demo says where.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

#: The example project, relative to the source checkout holding `src/stageline`.
EXAMPLE = Path("examples") / "webapp"
WORKFLOW = ".github/workflows/pipeline.yml"
#: Preferred service ports (the ones the example's docs name); taken ones are replaced.
PORTS = {"staging": 18081, "production": 18082}
#: Git identity of the demo's commit, so it works where git has none configured.
IDENTITY = {
    "GIT_AUTHOR_NAME": "Stageline Demo",
    "GIT_AUTHOR_EMAIL": "demo@stageline.invalid",
    "GIT_COMMITTER_NAME": "Stageline Demo",
    "GIT_COMMITTER_EMAIL": "demo@stageline.invalid",
}


@dataclass(frozen=True, slots=True)
class DemoSetup:
    """Where one demo lives: its repository, deploy root and service ports."""

    workdir: Path
    repo: Path
    deploy_root: Path
    ports: dict[str, int]

    def url(self, env: str) -> str:
        return f"http://127.0.0.1:{self.ports[env]}"

    def variables(self) -> dict[str, str]:
        """The workflow's `vars` (see the example's pipeline.yml)."""
        return {
            "DEPLOY_ROOT": str(self.deploy_root),
            "STAGING_PORT": str(self.ports["staging"]),
            "PRODUCTION_PORT": str(self.ports["production"]),
        }


def find_example() -> Path:
    """The example project of the checkout Stageline is installed from."""
    import stageline
    from stageline.errors import RunError

    package = Path(stageline.__file__).resolve().parent
    candidates = [parent / EXAMPLE for parent in package.parents[:3]]
    for candidate in candidates:
        if (candidate / WORKFLOW).is_file():
            return candidate
    raise RunError(
        f"the demo project {EXAMPLE}/ was not found next to the stageline package "
        f"(looked in {', '.join(str(c) for c in candidates)})",
        hint="install Stageline from a source checkout: `pip install -e .` in the clone",
    )


def free_port(preferred: int) -> int:
    """`preferred` when nothing listens there, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            # As the service binds: a port whose old connections linger in TIME_WAIT is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


def prepare(example: Path) -> DemoSetup:
    """A fresh git repository holding a copy of `example`, committed on `main`."""
    workdir = Path(tempfile.mkdtemp(prefix="stageline-demo-")).resolve()
    repo = workdir / example.name
    shutil.copytree(
        example, repo, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "dist", ".stageline")
    )
    # Nothing of the caller's git setup (GIT_DIR, hooks, signing) may leak into the copy.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | IDENTITY
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "--all"],
        ["-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", "webapp: demo"],
    ):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    ports = {env_name: free_port(port) for env_name, port in PORTS.items()}
    return DemoSetup(workdir, repo, workdir / "deploy", ports)


def stop_services(setup: DemoSetup) -> list[str]:
    """Stop every service the demo's deploys started; the environments stopped."""
    stopped = []
    for env_name in PORTS:
        env_dir = setup.deploy_root / env_name
        if (env_dir / "service.pid").exists():
            subprocess.run(
                [sys.executable, str(setup.repo / "deploy/service.py"), "stop", str(env_dir)],
                check=False,
                capture_output=True,
            )
            stopped.append(env_name)
    return stopped


def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the staging and production services running.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document (the run and where it is).")
    ] = False,
) -> None:
    """Run the example project's multi-stage pipeline end to end in a temp copy."""
    from rich.console import Console

    console = Console(stderr=json_output, highlight=False, soft_wrap=True)
    setup = prepare(find_example())
    console.print(f"[bold]stageline demo[/]: the example web service in {setup.repo} (main)")
    console.print(
        "  build, lint, unit tests → integration + e2e tests → "
        f"staging :{setup.ports['staging']} → approval → production :{setup.ports['production']}"
    )
    try:
        code, document = run_pipeline(setup, json_output)
    finally:
        stopped = [] if keep else stop_services(setup)
    from stageline.store import store_home

    record = store_home(setup.repo)
    run_id = document.get("run_id", "")
    console.print(f"record: {record}")
    console.print(f"  cd {setup.repo} && stageline show {run_id}   (or stageline logs {run_id})")
    if keep:
        for env_name in PORTS:
            console.print(f"{env_name}: {setup.url(env_name)}/health  (stop: deploy/stop.sh)")
        console.print(f"  with STAGELINE_DEPLOY_ROOT={setup.deploy_root}")
    elif stopped:
        console.print(f"stopped the {' and '.join(stopped)} services (--keep leaves them running)")
    if json_output:
        services = {env_name: setup.url(env_name) for env_name in PORTS}
        report = {
            "run": document,
            "repository": str(setup.repo),
            "record": str(record),
            "deploy_root": str(setup.deploy_root),
            "services": services,
            "kept": keep,
        }
        print(json.dumps(report, indent=2))
    if code:
        raise typer.Exit(code)


def run_pipeline(setup: DemoSetup, json_output: bool) -> tuple[int, dict[str, Any]]:
    """Run the demo's workflow through `stageline run` itself (in this process), then read
    its record back; progress goes to stderr when stdout is for the JSON document."""
    import contextlib

    from stageline.cli import run as run_command
    from stageline.cli.records import run_document
    from stageline.store import get_run, list_runs, open_store, store_home

    variables = [f"{key}={value}" for key, value in setup.variables().items()]
    progress = sys.stderr if json_output else sys.stdout
    previous = Path.cwd()
    os.chdir(setup.repo)
    try:
        with contextlib.redirect_stdout(progress):
            run_command.run(workflow=WORKFLOW, var=variables)
        code = 0
    except typer.Exit as done:  # how `stageline run` reports a run that did not succeed
        code = done.exit_code
    finally:
        os.chdir(previous)
    with open_store(store_home(setup.repo)) as store:
        runs = list_runs(store, repo_path=str(setup.repo), limit=1)
        document = run_document(get_run(store, runs[0].id)) if runs else {}
    return code, document

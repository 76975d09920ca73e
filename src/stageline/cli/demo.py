"""`stageline demo`: the example project delivered twice, the second time broken and undone.

The demo copies `examples/webapp` (found next to the installed package: the README
installs Stageline from a checkout with `pip install -e .`) into a new temp directory,
writes the service ports it picked into the copy's `.stageline.yml` (the monitors probe
them), makes it a git repository with one commit on `main`, and tells a story in two
runs of its workflow, each through the services `stageline run` calls (`app.runs`),
with its views:

1. the release ships: build, lint and unit tests → integration and e2e tests →
   staging (deploy, then its health monitor's bake window) → approval (automatic) →
   production (deploy, bake window). Both environments are real background services
   of the example on 127.0.0.1, installed under a releases directory with an atomic
   `current` symlink;
2. a broken release (`examples/webapp/demo/broken-release.patch`: a typo on a code path
   no test reaches) is committed and delivered. It passes every test and the smoke test,
   then its /health turns to 500; staging's monitor catches it, staging is rolled back
   automatically to the first release, and production never sees it.

The demo then checks the record and the live services against that story, prints the
deployments table, and exits 0 only if everything happened as told (the second run
itself fails, as it must). Services are stopped at the end unless `--keep`. The temp
directory stays: it holds the record and the logs, and the demo says where.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console

    from stageline.store.deploy_records import DeploymentRow

#: The example project, relative to the source checkout holding `src/stageline`.
EXAMPLE = Path("examples") / "webapp"
WORKFLOW = ".github/workflows/pipeline.yml"
#: The bug the finale ships, a patch of the example (kept in it, so users can read it).
BROKEN_PATCH = "demo/broken-release.patch"
BROKEN_MESSAGE = "webapp: cache the /health answer"
#: The environment whose monitor catches the broken release (the first it reaches).
CATCHER = "staging"
#: Preferred service ports (the ones the example's docs and `.stageline.yml` name);
#: taken ones are replaced, in the workflow's `vars` and in `.stageline.yml` alike.
PORTS = {"staging": 18081, "production": 18082}
#: The demo repository's git identity: its commits' author and, as `stageline run` takes
#: it from git, the actor who triggers its runs, whatever the machine has configured.
IDENTITY = {"user.name": "Stageline Demo", "user.email": "demo@stageline.invalid"}


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


def git(repo: Path, *args: str) -> str:
    """Run git in the demo's repository with nothing of the caller's git setup (GIT_DIR,
    hooks, signing) leaking in; its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@contextlib.contextmanager
def preferred_ports() -> Iterator[bool]:
    """Whether this demo may take the preferred ports. Between choosing its ports and its
    deploys binding them a demo spends seconds in tests, so two demos at once would pick
    the same free ports: one demo at a time (per temp directory) holds this lock and
    prefers them, the others take any free port."""
    import fcntl

    with open(Path(tempfile.gettempdir()) / "stageline-demo-ports.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
        else:
            yield True


def prepare(example: Path, preferred: bool) -> DemoSetup:
    """A fresh git repository holding a copy of `example`, its `.stageline.yml` pointing
    at the ports picked here (the `PORTS` if `preferred` and free), committed on `main`."""
    workdir = Path(tempfile.mkdtemp(prefix="stageline-demo-")).resolve()
    repo = workdir / example.name
    shutil.copytree(
        example, repo, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "dist", ".stageline")
    )
    ports = {env_name: free_port(port if preferred else 0) for env_name, port in PORTS.items()}
    config = repo / ".stageline.yml"
    if config.is_file():
        text = config.read_text()
        for env_name, written in PORTS.items():
            text = text.replace(f"127.0.0.1:{written}", f"127.0.0.1:{ports[env_name]}")
        config.write_text(text)
    git(repo, "init", "-q", "-b", "main")
    for key, value in IDENTITY.items():
        git(repo, "config", key, value)
    git(repo, "add", "--all")
    git(repo, "commit", "-q", "-m", "webapp: demo")
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


def health(url: str) -> dict[str, Any] | None:
    """The service's /health answer when it is healthy (200 with JSON), else None."""
    import urllib.request  # not at module level: every `stageline --help` imports this

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            answer = json.loads(reply.read())
    except (OSError, ValueError):  # refused, timed out, an HTTP error, not JSON
        return None
    return answer if isinstance(answer, dict) else None


def serves(setup: DemoSetup, env_name: str, release: str) -> bool:
    answer = health(setup.url(env_name))
    return answer is not None and answer.get("status") == "ok" and answer.get("release") == release


def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the staging and production services running.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document (the story and its record).")
    ] = False,
    server: Annotated[
        bool,
        typer.Option(
            "--server",
            help="Serve the example instead, as a team would: users, a bare repository with "
            "its hook, a push that starts a run; until Ctrl-C.",
        ),
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="With --server: its port.")
    ] = 8750,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            metavar="DIR",
            help="With --server: its data dir (default: in the demo's temp directory).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Deliver the example project, then a broken release that is rolled back on its own."""
    from rich.console import Console

    if server:
        from stageline.cli.demo_server import serve_demo

        code = serve_demo(port, data_dir, Console(highlight=False, soft_wrap=True))
        raise typer.Exit(code)
    console = Console(stderr=json_output, highlight=False, soft_wrap=True)
    with preferred_ports() as preferred:
        story = Story(prepare(find_example(), preferred), console, json_output)
        story.introduce()
        try:
            if story.first_release():
                story.broken_release()
        finally:
            stopped = [] if keep else stop_services(story.setup)
    story.epilogue(keep, stopped)
    if json_output:
        print(json.dumps(story.report(keep), indent=2))
    if not story.ok:
        raise typer.Exit(1)


@dataclass(slots=True)
class Story:
    """The demo's two acts on one setup, and the facts each must establish: every check is
    printed as it is made and kept for the report."""

    setup: DemoSetup
    console: Console
    json_output: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    releases: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check["ok"] for check in self.checks)

    def check(self, ok: bool, what: str) -> bool:
        self.checks.append({"what": what, "ok": ok})
        self.console.print(f"  {'[green]✓[/]' if ok else '[red]✗[/]'} {what}")
        return ok

    def introduce(self) -> None:
        setup = self.setup
        self.console.print(
            f"[bold]stageline demo[/]: the example web service in {setup.repo} (main)"
        )
        self.console.print(
            "  build, lint, unit tests → integration + e2e tests → staging "
            f":{setup.ports['staging']} → approval → production :{setup.ports['production']}"
            "; each deploy is watched over HTTP and rolled back automatically if it turns bad"
        )

    def first_release(self) -> bool:
        """Act 1: the first commit goes all the way to production; both serve it."""
        setup = self.setup
        release = self.releases["good"] = git(setup.repo, "rev-parse", "HEAD")[:12]
        self.console.print(f"\n[bold]1/2[/] the first release, {release}")
        code, document = self.run_pipeline()
        if not self.check(
            code == 0 and document.get("conclusion") == "success",
            f"run #{document.get('number', '?')} succeeded: the release passed every stage",
        ):
            return False
        mine = [d for d in deployments(setup) if d.run_id == document["run_id"]]
        for env_name in PORTS:
            ids = [d.id for d in mine if d.environment == env_name and d.status == "success"]
            self.check(
                len(ids) == 1 and serves(setup, env_name, release),
                f"{env_name} serves {release} at {setup.url(env_name)}, healthy through its "
                f"bake window (deployment #{ids[0] if ids else '?'})",
            )
        return self.ok

    def broken_release(self) -> None:
        """Act 2: a release with a bug no test reaches; staging's monitor catches it,
        staging is rolled back to the first release, production never gets it."""
        setup, good = self.setup, self.releases["good"]
        try:
            git(setup.repo, "apply", BROKEN_PATCH)
            git(setup.repo, "commit", "-q", "-a", "-m", BROKEN_MESSAGE)
        except subprocess.CalledProcessError as err:
            self.check(False, f"the broken release could be made ({BROKEN_PATCH}): {err.stderr}")
            return
        bad = self.releases["broken"] = git(setup.repo, "rev-parse", "HEAD")[:12]
        self.console.print(
            f"\n[bold]2/2[/] a broken release, {bad}: “{BROKEN_MESSAGE}” "
            f"(a typo on the cache's refresh path, which no test reaches; see {BROKEN_PATCH})"
        )
        code, document = self.run_pipeline()
        run_id = document.get("run_id")
        jobs = {job["job_id"]: job for job in document.get("jobs", [])}
        reason = str((jobs.get(f"deploy-{CATCHER}") or {}).get("reason") or "")
        self.check(
            code != 0 and document.get("conclusion") == "failure" and "rolled back" in reason,
            f"run #{document.get('number', '?')} failed, as it must: "
            f"{reason or 'no reason recorded'}",
        )
        records = deployments(setup)
        mine = [d for d in records if d.environment == CATCHER]
        replaced = next((d for d in mine if d.run_id == run_id and d.kind == "deploy"), None)
        restored = next((d for d in mine if d.run_id == self.runs[0]["run_id"]), None)
        rollback = next((d for d in mine if d.kind == "rollback"), None)
        self.check(
            replaced is not None
            and replaced.status == "rolled_back"
            and restored is not None
            and rollback is not None
            and rollback.status == "success"
            and (rollback.replaces, rollback.restores) == (replaced.id, restored.id),
            f"{CATCHER} rolled back on its own: deployment #{replaced.id if replaced else '?'} "
            f"rolled_back, rollback #{rollback.id if rollback else '?'} restored "
            f"#{restored.id if restored else '?'}",
        )
        self.check(
            serves(setup, CATCHER, good),
            f"{CATCHER} serves {good} again, healthy" + cause(setup, CATCHER),
        )
        production = [d for d in records if d.environment == "production"]
        self.check(
            all(d.run_id != run_id for d in production) and serves(setup, "production", good),
            f"production never got {bad}: it still serves {good}, healthy",
        )

    def run_pipeline(self) -> tuple[int, dict[str, Any]]:
        """Run the demo's workflow through the services `stageline run` calls, with its
        views, then read its record back; progress goes to stderr when stdout is for the
        JSON document."""
        from stageline.app import runs
        from stageline.cli.documents import run_document
        from stageline.cli.running import observers, print_log_hints, print_notes
        from stageline.engine.setup import RunOptions

        options = RunOptions(cwd=self.setup.repo, workflow=WORKFLOW, vars=self.setup.variables())
        with contextlib.redirect_stdout(self.progress):
            prepared = runs.prepare(options)
            print_notes(prepared)
            finished = runs.start(prepared, observer_for=observers(prepared), prompt=True)
            print_log_hints(finished.runs)
        document = run_document(finished.runs[0]) if finished.runs else {}
        self.runs.append(document)
        return finished.exit_code, document

    @property
    def progress(self) -> TextIO:
        return sys.stderr if self.json_output else sys.stdout

    def epilogue(self, keep: bool, stopped: list[str]) -> None:
        """The deployments table, where the record and logs are, what is left running."""
        from stageline.cli.deploys import print_deployments

        setup, console = self.setup, self.console
        records = deployments(setup)
        if records:
            console.print("\n[bold]deployments[/] (stageline deployments)")
            with contextlib.redirect_stdout(self.progress):
                print_deployments(records[::-1])
        home = record_home(setup)
        console.print(f"\nrecord: {home}")
        for document in self.runs:
            console.print(f"  run #{document.get('number')} logs: {document.get('log_dir')}")
        for rollback_id in rollback_ids(setup):
            logs = home / "logs" / "rollbacks" / str(rollback_id)  # as deploy.rollback puts them
            if logs.is_dir():
                console.print(f"  rollback {rollback_id} logs: {logs}")
        console.print(f"  services' own logs: {setup.deploy_root}/<env>/service.log")
        console.print(f"  cd {setup.repo} && stageline runs / show RUN / logs RUN / deployments")
        if keep:
            for env_name in PORTS:
                console.print(f"{env_name}: {setup.url(env_name)}/health  (stop: deploy/stop.sh)")
            console.print(f"  with STAGELINE_DEPLOY_ROOT={setup.deploy_root}")
        elif stopped:
            console.print(
                f"stopped the {' and '.join(stopped)} services (--keep leaves them running)"
            )
        verdict = "[green]the story happened as told[/]" if self.ok else "[red]it did not[/]"
        console.print(f"demo: {verdict}")

    def report(self, keep: bool) -> dict[str, Any]:
        """The `--json` document: the checks, both runs, the records, where things are."""
        from stageline.cli.deploys import describe

        setup = self.setup
        return {
            "ok": self.ok,
            "story": self.checks,
            "runs": self.runs,
            "releases": self.releases,
            "deployments": [describe(row) for row in reversed(deployments(setup))],
            "repository": str(setup.repo),
            "record": str(record_home(setup)),
            "deploy_root": str(setup.deploy_root),
            "services": {env_name: setup.url(env_name) for env_name in PORTS},
            "kept": keep,
        }


def cause(setup: DemoSetup, env_name: str) -> str:
    """Why the broken release failed, from its service's log (the exception's last line)."""
    log = setup.deploy_root / env_name / "service.log"
    text = log.read_text(errors="replace") if log.is_file() else ""
    errors = re.findall(r"^\w+(?:Error|Exception): .*$", text, flags=re.MULTILINE)
    return f" (the broken one answered 500: {errors[-1]}, see {log})" if errors else ""


def record_home(setup: DemoSetup) -> Path:
    from stageline.store import store_home

    return store_home(setup.repo)


def deployments(setup: DemoSetup) -> list[DeploymentRow]:
    """The demo repository's deployment records, oldest first (none before any run)."""
    from stageline.app import context, deploys

    try:
        return deploys.deployments(setup.repo)[::-1]
    except context.NoRecordError:
        return []


def rollback_ids(setup: DemoSetup) -> list[int]:
    from stageline.app import context, deploys

    try:
        return deploys.rollback_ids(setup.repo)
    except context.NoRecordError:
        return []

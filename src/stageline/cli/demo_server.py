"""`stageline demo --server`: the team server on the example project, ready to log in to.

One command sets up what `docs/server.md` has a team do by hand, then serves until
Ctrl-C or SIGTERM:

1. a copy of `examples/webapp` (as `stageline demo` makes it) whose workflow is the
   article's `examples/article/multi-stage.yml`, byte for byte. That workflow calls
   `npm run build`, `npm test`, `./deploy-staging.sh` and `./deploy-production.sh`; the
   copy gains a `package.json` and the two scripts, which call the webapp's own lint,
   tests, build and deploy, with the ports and deploy root picked for this demo;
2. a bare repository (`webapp.git`) registered on the server with a webhook secret;
3. four users with generated passwords, printed once: an admin, the developer who
   authored the commit (by its email), and the two reviewers `.stageline.yml` names;
4. the server (SQLite in the data dir), then the post-receive hook and a `git push` of
   `main` to the bare repository, which starts the run.

The services the run deploys (staging, production) are stopped when the server stops.
"""

from __future__ import annotations

import json
import secrets
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from stageline.cli.demo import IDENTITY, DemoSetup, find_example, git, prepare, stop_services

if TYPE_CHECKING:
    from rich.console import Console

#: The article's workflow, kept verbatim next to the example project.
ARTICLE = Path("article") / "multi-stage.yml"
WORKFLOW = ".github/workflows/multi-stage.yml"
#: The repository's name on the server.
REPO = "webapp"
#: name → (role, emails): the commit author is the developer; alice and bob are the
#: release managers of the example's `.stageline.yml`.
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("admin", ()),
    "dev": ("developer", (IDENTITY["user.email"],)),
    "alice": ("reviewer", ("alice@stageline.invalid",)),
    "bob": ("reviewer", ("bob@stageline.invalid",)),
}
#: Whose token the printed CLI lines use: a reviewer reads every record and may approve.
TOKEN_USER = "alice"


@dataclass(slots=True)
class ServerDemo:
    """What one `demo --server` made: the repository, its bare remote, the data dir and
    the users' passwords."""

    setup: DemoSetup
    data_dir: Path
    bare: Path
    secret: str
    passwords: dict[str, str] = field(default_factory=dict)
    token: str = ""


def glue(setup: DemoSetup) -> dict[str, str]:
    """The files the article's workflow expects, calling the webapp's own scripts."""
    root, ports = setup.deploy_root, setup.ports
    scripts = {
        "build": "python3 -m compileall -q webapp tests scripts deploy && python3 scripts/lint.py"
        " && python3 -m unittest discover -s tests/unit -t . && ./scripts/build.sh dist",
        "test": "python3 -m unittest discover -s tests/integration -t .",
    }
    package = {"name": "webapp", "version": "1.0.0", "private": True, "scripts": scripts}
    files = {"package.json": json.dumps(package, indent=2) + "\n"}
    for env_name in ("staging", "production"):
        files[f"deploy-{env_name}.sh"] = (
            "#!/bin/sh\n"
            f"# Deploy the webapp to {env_name} (written by `stageline demo --server`).\n"
            "set -e\n"
            "./scripts/build.sh dist\n"
            f"export STAGELINE_DEPLOY_ROOT='{root}' DEPLOY_PORT={ports[env_name]}\n"
            f"./deploy/deploy.sh {env_name}\n"
            f"./deploy/smoke.sh http://127.0.0.1:{ports[env_name]}\n"
        )
    return files


def make_repository(example: Path) -> DemoSetup:
    """The webapp copy, its workflow replaced by the article's, amended into one commit."""
    setup = prepare(example, preferred=False)
    repo = setup.repo
    git(repo, "rm", "-q", "-r", ".github/workflows")
    (repo / WORKFLOW).parent.mkdir(parents=True, exist_ok=True)
    (repo / WORKFLOW).write_bytes((example.parent / ARTICLE).read_bytes())
    for name, text in glue(setup).items():
        (repo / name).write_text(text)
        if name.endswith(".sh"):
            (repo / name).chmod(0o755)
    git(repo, "add", "--all")
    git(repo, "commit", "-q", "--amend", "-m", "webapp: the article's multi-stage workflow")
    return setup


def provision(setup: DemoSetup, data_dir: Path) -> ServerDemo:
    """The bare repository and the server's store: the repository and the four users."""
    from stageline.app import accounts, repos
    from stageline.app.serverdata import open_server

    bare = setup.workdir / f"{REPO}.git"
    git(setup.workdir, "init", "-q", "--bare", "-b", "main", str(bare))
    git(setup.repo, "remote", "add", "origin", str(bare))
    made = ServerDemo(setup, data_dir, bare, secrets.token_hex(20))
    with open_server(data_dir) as server:
        repos.add_repo(server, REPO, str(bare), made.secret, by="demo")
        for name, (role, emails) in USERS.items():
            password = secrets.token_urlsafe(12)
            user = accounts.add_user(
                server, name, accounts.Role.parse(role), emails, password, by="demo"
            )
            made.passwords[name] = password
            if name == TOKEN_USER:
                made.token, _ = accounts.create_token(server, user, "demo", "30d", by="demo")
    return made


def push(made: ServerDemo, url: str) -> str:
    """Install the hook for the server at `url` and push `main`; what the hook said."""
    from stageline.app.githook import install

    install(made.bare, url, REPO, made.secret)
    done = subprocess.run(
        ["git", "push", "-q", "origin", "main"],
        cwd=made.setup.repo,
        capture_output=True,
        text=True,
        check=False,
    )
    said = [line.removeprefix("remote: ").rstrip() for line in done.stderr.splitlines()]
    return "\n".join(f"    {line}" for line in said if line.strip())


def announce(console: Console, made: ServerDemo, url: str, said: str) -> None:
    """Where to log in, who can, and how to use the CLI; the passwords, this once."""
    setup = made.setup
    console.print(f"[bold]stageline demo --server[/]: the example webapp on {url}")
    console.print(f"pushed main to {made.bare} (the post-receive hook reports to the server):")
    console.print(said or "    (the hook said nothing)", markup=False)
    console.print(f"\nlog in at {url}/login  (passwords are shown this once)", markup=False)
    for name, (role, emails) in USERS.items():
        author = f"  ({emails[0]}, the commits' author)" if role == "developer" else ""
        console.print(f"  {name:<6} {role:<10} {made.passwords[name]}{author}", markup=False)
    console.print(
        "\nthe CLI against it (the token is alice's):\n"
        f"  export STAGELINE_SERVER={url} STAGELINE_TOKEN={made.token}\n"
        "  stageline runs; stageline show 1; stageline logs 1 build; stageline environments",
        markup=False,
    )
    console.print(
        f"\npush again: cd {setup.repo} && git commit --allow-empty -m again && git push\n"
        f"staging {setup.url('staging')}, production {setup.url('production')} (after deploys)\n"
        f"data dir {made.data_dir}\nCtrl-C stops the server.",
        markup=False,
    )


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signum)


def serve_demo(port: int, data_dir: Path | None, console: Console) -> int:
    """Set up, serve until a signal, stop the services the runs deployed; exit code."""
    import uvicorn

    from stageline.server.app import ServerSettings, create_app

    setup = make_repository(find_example())
    where = data_dir.expanduser().resolve() if data_dir else setup.workdir / "server"
    made = provision(setup, where)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                bound = self.servers[0].sockets[0].getsockname()
                url = f"http://127.0.0.1:{bound[1]}"
                # the hook posts to this server: push from a thread, not its event loop
                threading.Thread(
                    target=lambda: announce(console, made, url, push(made, url)), daemon=True
                ).start()

    app = create_app(ServerSettings(data_dir=where))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    served = Server(config)
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        served.run()
    except _Stopped as stop:
        console.print(f"stageline demo server stopped ({signal.Signals(stop.signum).name})")
    except SystemExit:  # it could not listen; uvicorn said why
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stopped = stop_services(setup)
        if stopped:
            console.print(f"stopped the {' and '.join(stopped)} services", markup=False)
        sys.stdout.flush()
    return 0

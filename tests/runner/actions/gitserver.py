"""A local action server for tests: fixture action repositories served by `git daemon`
on 127.0.0.1, so `STAGELINE_ACTIONS_URL=git://127.0.0.1:<port>` fetches them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

IDENTITY = ["-c", "user.name=Alice", "-c", "user.email=alice@example.com"]

GREET_ACTION = """\
name: Greet
inputs:
  who: {default: world}
  shout: {default: "false"}
outputs:
  greeting: {description: the greeting}
runs:
  using: node20
  pre: pre.js
  main: main.js
  post: post.js
"""
GREET_PRE = 'console.log("greet-pre");\n'
GREET_MAIN = """\
const fs = require("fs");
let text = `hello ${process.env.INPUT_WHO}`;
if (process.env.INPUT_SHOUT === "true") text = text.toUpperCase();
console.log(`greet-main ${text}`);
fs.appendFileSync(process.env.GITHUB_OUTPUT, `greeting=${text}\\n`);
fs.appendFileSync(process.env.GITHUB_STATE, `said=${text}\\n`);
"""
GREET_POST = "console.log(`greet-post ${process.env.STATE_said}`);\n"
WRAP_ACTION = """\
name: Wrap
inputs:
  who: {default: wrapped}
outputs:
  greeting: {value: "${{ steps.inner.outputs.greeting }}"}
runs:
  using: composite
  steps:
    - id: inner
      uses: acme/greet@v1
      with: {who: "${{ inputs.who }}"}
    - shell: bash
      run: echo "wrap-done"
"""
DOCKER_ACTION = "name: Boxed\nruns:\n  using: docker\n  image: Dockerfile\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@dataclass
class ActionServer:
    """Bare repositories under `base` (`OWNER/REPO.git`) with a working copy each under
    `base/../work`, served at `url` once `serve` runs."""

    base: Path
    url: str = ""
    shas: dict[str, str] = field(default_factory=dict)

    def _work(self, name: str) -> Path:
        return self.base.parent / "work" / name

    def _push(self, name: str, refspec: str) -> None:
        git(self._work(name), "push", "-q", "--force", str(self.base / f"{name}.git"), refspec)

    def publish(self, name: str, files: dict[str, str], message: str = "commit") -> str:
        """Commit `files` to the main branch of `name` (OWNER/REPO) and push; the SHA."""
        work = self._work(name)
        if not work.is_dir():
            work.mkdir(parents=True)
            git(work, "init", "-q", "-b", "main")
            bare = self.base / f"{name}.git"
            bare.parent.mkdir(parents=True, exist_ok=True)
            git(self.base, "init", "-q", "--bare", str(bare))
        for path, text in files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(work, "add", "-A")
        git(work, "commit", "-q", "--allow-empty", "-m", message)
        self._push(name, "HEAD:refs/heads/main")
        return git(work, "rev-parse", "HEAD")

    def tag(self, name: str, tag: str) -> None:
        git(self._work(name), "tag", "-f", tag)
        self._push(name, f"refs/tags/{tag}")

    def branch(self, name: str, branch: str) -> None:
        self._push(name, f"HEAD:refs/heads/{branch}")

    def copy(self, root: Path) -> ActionServer:
        """An independent copy of the repositories under `root` (not served)."""
        shutil.copytree(self.base.parent, root, symlinks=True)
        return ActionServer(root / "base", shas=dict(self.shas))


def build(root: Path) -> ActionServer:
    """The fixture actions in repositories under `root` (see `fixture_actions`)."""
    server = ActionServer(root / "base")
    server.base.mkdir(parents=True)
    server.shas = fixture_actions(server)
    return server


def fixture_actions(server: ActionServer) -> dict[str, str]:
    """The standard fixture actions; returns the SHAs by name."""
    files = {
        "action.yml": GREET_ACTION,
        "pre.js": GREET_PRE,
        "main.js": GREET_MAIN,
        "post.js": GREET_POST,
    }
    shas = {"greet@v1": server.publish("acme/greet", files, "v1")}
    server.tag("acme/greet", "v1")
    shas["greet@main"] = server.publish(
        "acme/greet", {"main.js": GREET_MAIN.replace("greet-main", "greet-main-next")}, "next"
    )
    server.branch("acme/greet", "next")
    shas["wrap@v2"] = server.publish(
        "acme/wrap", {"action.yml": WRAP_ACTION, "sub/action.yml": WRAP_ACTION}
    )
    server.tag("acme/wrap", "v2")
    shas["boxed@v1"] = server.publish("acme/boxed", {"action.yml": DOCKER_ACTION})
    server.tag("acme/boxed", "v1")
    return shas


@contextmanager
def serve(server: ActionServer) -> Iterator[ActionServer]:
    """`git daemon` on 127.0.0.1 exporting the server's repositories; sets its url."""
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            f"--base-path={server.base}",
            f"--port={port}",
            "--listen=127.0.0.1",
            str(server.base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.05)
        server.url = f"git://127.0.0.1:{port}"
        yield server
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)

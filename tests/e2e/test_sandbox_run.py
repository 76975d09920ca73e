"""`stageline run --executor sandbox`: whole runs under bubblewrap, against the same
runs with the local executor, and the ways the sandbox refuses to start."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_run_cli import make_repo, stageline

pytestmark = pytest.mark.slow

NODE_ACTION = """\
name: hello
runs:
  using: node20
  main: main.js
  post: post.js
"""
MAIN_JS = """\
const fs = require('fs');
fs.appendFileSync(process.env.GITHUB_OUTPUT, 'greeting=hello from node\\n');
fs.appendFileSync(process.env.GITHUB_STATE, 'seen=yes\\n');
fs.writeFileSync(process.env.HOME + '/.node-was-here', 'ok');
"""
POST_JS = "console.log('post saw ' + process.env.STATE_seen);\n"

TOOLS = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.hello.outputs.greeting }}
    steps:
      - uses: actions/checkout@v4
      - uses: ./.github/actions/hello
        id: hello
      - uses: actions/cache@v4
        id: cache
        with:
          path: deps
          key: deps-${{ hashFiles('lock.txt') }}
      - run: echo "cache-hit=${{ steps.cache.outputs.cache-hit }}"
      - run: mkdir -p deps && echo fetched > deps/lib.txt && echo built > app.bin
      - uses: actions/upload-artifact@v4
        with:
          name: app
          path: app.bin
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: app
      - run: cat app.bin && echo "${{ needs.build.outputs.greeting }}"
"""


def tools_repo(root: Path) -> Path:
    return make_repo(
        root,
        {
            ".github/workflows/ci.yml": TOOLS,
            ".github/actions/hello/action.yml": NODE_ACTION,
            ".github/actions/hello/main.js": MAIN_JS,
            ".github/actions/hello/post.js": POST_JS,
            "lock.txt": "v1\n",
        },
    )


def run_json(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`stageline run --json ARGS`: its exit code, and the run as `show --json` has it."""
    done = stageline(repo, "run", "--json", *args)
    assert done.stdout.strip(), done.stderr
    run = json.loads(done.stdout)["run_id"]
    shown = stageline(repo, "show", str(run), "--json")
    return done.returncode, json.loads(shown.stdout)


def record(document: dict[str, Any]) -> dict[str, Any]:
    """What a run recorded, without what differs from one run to the next (ids, times,
    paths): each job's conclusion and outputs, and its steps' names and conclusions."""
    return {
        job["name"]: (
            job["conclusion"],
            job.get("outputs"),
            [(s["name"], s["conclusion"], sorted(s["outputs"])) for s in job["steps"]],
        )
        for job in document["jobs"]
    }


def logs(repo: Path, run: int) -> str:
    return stageline(repo, "logs", str(run)).stdout


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_actions_cache_and_artifacts_work_and_record_as_locally(tmp_path: Path) -> None:
    code, local = run_json(tools_repo(tmp_path / "local"), "--executor", "local")
    assert code == 0, local
    repo = tools_repo(tmp_path / "app")  # the same, with a cache of its own
    code, first = run_json(repo, "--executor", "sandbox")
    assert code == 0, first
    assert record(first) == record(local)
    said = logs(repo, first["run_id"])
    assert "post saw yes" in said and "built" in said and "hello from node" in said
    code, second = run_json(repo, "--executor", "sandbox")
    assert code == 0, second
    assert "cache-hit=true" in logs(repo, second["run_id"])  # saved by the sandboxed run


ARTICLE = Path(__file__).parent / "fixtures" / "multi-stage.yml"


@pytest.mark.skipif(shutil.which("npm") is None, reason="the workflow's steps run npm")
def test_the_article_workflow_records_the_same_under_the_sandbox(tmp_path: Path) -> None:
    scripts = {
        "build": "node -e \"require('fs').writeFileSync('build.txt', 'built')\"",
        "test": "node -e \"console.log('tests ran')\"",
    }
    repo = make_repo(
        tmp_path / "app",
        {
            ".github/workflows/ci.yml": ARTICLE.read_text(),
            "package.json": json.dumps({"name": "app", "version": "1.0.0", "scripts": scripts}),
            "deploy-staging.sh": "#!/bin/sh\necho deployed staging\n",
            "deploy-production.sh": "#!/bin/sh\necho deployed production\n",
        },
    )
    code, local = run_json(repo, "--executor", "local")
    assert code == 0, local
    code, sandboxed = run_json(repo, "--executor", "sandbox")
    assert code == 0, sandboxed
    assert record(sandboxed) == record(local)
    assert "deployed production" in logs(repo, sandboxed["run_id"])


def test_the_repository_config_picks_the_sandbox_and_its_network(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    probe = (
        f"if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; "
        "then echo ${{ github.job }}-connected; else echo ${{ github.job }}-refused; fi; "
        "echo procs=$(ls /proc | grep -c '^[0-9]')"
    )
    workflow = (
        "on: push\njobs:\n"
        f"  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: {probe}\n"
        f"  deploy:\n    runs-on: ubuntu-latest\n    steps:\n      - run: {probe}\n"
    )
    config = "executor: sandbox\nsandbox:\n  processes: 100\n  network_jobs: [deploy]\n"
    repo = make_repo(
        tmp_path / "app", {".github/workflows/ci.yml": workflow, ".stageline.yml": config}
    )
    try:
        code, document = run_json(repo)
    finally:
        server.close()
    assert code == 0, document
    said = logs(repo, document["run_id"])
    assert "build-refused" in said and "deploy-connected" in said, said
    assert "build-connected" not in said
    counts = [int(n) for n in _numbers_after("procs=", said)]
    assert len(counts) == 2 and max(counts) < 10, said


def _numbers_after(prefix: str, text: str) -> list[str]:
    return re.findall(rf"{prefix}(\d+)", text)


def test_a_bad_sandbox_setting_is_a_positioned_error(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "app",
        {
            ".github/workflows/ci.yml": "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
            "      - run: echo hi\n",
            ".stageline.yml": "executor: sandbox\nsandbox:\n  memory: lots\n",
        },
    )
    done = stageline(repo, "run")
    assert done.returncode == 1
    assert ".stageline.yml:3:11: error: sandbox.memory must be a size" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_bubblewrap_the_sandbox_refuses_to_start(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "app",
        {
            ".github/workflows/ci.yml": "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
            "      - run: echo hi\n"
        },
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "sh", "bash"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    done = stageline(repo, "run", "--executor", "sandbox", env={"PATH": str(bin_dir)})
    assert done.returncode == 1
    assert "bubblewrap (bwrap) is not installed" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert "run #" not in done.stderr + done.stdout, "nothing started"


def test_a_killed_engine_takes_its_sandboxed_steps_with_it(tmp_path: Path) -> None:
    seconds = str(7_000_000 + os.getpid() % 100_000)  # a sleep no one else runs
    workflow = (
        "on: push\njobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - run: echo sleeping-now; sleep {seconds} & sleep {seconds}\n"
    )
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    engine = subprocess.Popen(
        [sys.executable, "-m", "stageline", "run", "--executor", "sandbox"],
        cwd=repo,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert engine.stdout is not None
        for line in engine.stdout:
            if line.rstrip().endswith(" sleeping-now"):
                break
        deadline = time.monotonic() + 30
        while len(_sleepers(seconds)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_sleepers(seconds)) == 2, "both sleeps run, sandboxed"
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.wait()
        assert engine.stdout is not None
        engine.stdout.close()
    deadline = time.monotonic() + 30  # the watchdog's grace, on a busy machine
    while _sleepers(seconds) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sleepers(seconds) == []


def _sleepers(seconds: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if f.read().split(b"\0")[:2] == [b"sleep", seconds.encode()]:
                    found.append(int(name))
        except (OSError, ValueError):
            continue
    return found


def test_a_store_outside_the_repository_is_hidden_too(tmp_path: Path) -> None:
    store = tmp_path / "records"
    probe = (
        f"ls -A {store} | wc -l; (echo x > {store}/evil) 2>/dev/null || echo cannot-write; "
        f"(echo x > {tmp_path / 'app'}/evil) 2>/dev/null || echo checkout-read-only"
    )
    workflow = f"on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: {probe}\n"
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    done = stageline(repo, "run", "--executor", "sandbox", env={"STAGELINE_HOME": str(store)})
    assert done.returncode == 0, done.stderr
    lines = [line.rsplit("] ", 1)[-1] for line in done.stdout.splitlines()]
    assert [line for line in lines if line in ("0", "cannot-write", "checkout-read-only")] == [
        "0",
        "cannot-write",
        "checkout-read-only",
    ], done.stdout
    assert (store / "stageline.db").exists() and not (store / "evil").exists()
    assert not (repo / "evil").exists()

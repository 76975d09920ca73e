"""Each wall of the sandbox executor, proved by a real job under real bubblewrap: what a
step tries, and what the host shows afterwards."""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stageline.executors import pids
from stageline.executors.bwrap import SandboxPolicy
from stageline.executors.sandbox import SandboxExecutor
from stageline.plan.model import PlannedEnvironment
from stageline.runner.contract import JobRequest, JobResult
from stageline.runs.states import Conclusion
from tests.runner.helpers import RecordingSink, job, make_repo, request, step

SMALL = SandboxPolicy(memory=256 << 20, processes=64, file_size=1 << 20)


def _run(
    req: JobRequest, policy: SandboxPolicy = SMALL, cancel: asyncio.Event | None = None
) -> tuple[JobResult, RecordingSink]:
    executor = SandboxExecutor(policy, kill_grace=1.0)
    sink = RecordingSink()

    async def go() -> JobResult:
        await executor.start()
        try:
            return await asyncio.wait_for(
                executor.run_job(req, sink, cancel or asyncio.Event()), 60
            )
        finally:
            await executor.close()

    return asyncio.run(go()), sink


def _job(tmp: Path, *scripts: str, **fields: Any) -> JobRequest:
    repo = make_repo(tmp, {"README.md": "original\n"})
    steps = [step(i, script) for i, script in enumerate(scripts)]
    return request(tmp, repo, job(*steps), **fields)


def _out(sink: RecordingSink, index: int | None = None) -> list[str]:
    """What a step printed (without the runner's ``##[command]`` lines)."""
    return [line for line in sink.lines(index) if not line.startswith("##[")]


def _groups_left() -> list[str]:
    parent = pids.hierarchy()
    assert parent is not None
    mine = f"{os.getpid()}-"
    return [p.name for p in parent.iterdir() if p.is_dir() and p.name.startswith(mine)]


def test_the_job_writes_its_workspace_temp_and_home(tmp_path: Path) -> None:
    req = _job(
        tmp_path,
        'echo a > "$GITHUB_WORKSPACE/a" && echo b > "$RUNNER_TEMP/b" && echo c > "$HOME/c"'
        f" && echo x > /tmp/private-{os.getpid()} && echo wrote-all",
        'cat "$GITHUB_WORKSPACE/a" "$RUNNER_TEMP/b" "$HOME/c"; echo "out=1" >> "$GITHUB_OUTPUT"',
        'case "$HOME" in "$RUNNER_TEMP"/*|"$GITHUB_WORKSPACE"/*) exit 9;; esac; echo own-home',
    )
    result, sink = _run(req)
    assert result.conclusion == Conclusion.SUCCESS, _out(sink)
    assert "wrote-all" in _out(sink, 0)
    assert _out(sink, 1) == ["a", "b", "c"]
    assert result.steps[1].outputs == {"out": "1"}  # file commands cross the walls
    assert "own-home" in _out(sink, 2)
    assert not Path(f"/tmp/private-{os.getpid()}").exists(), "the step's /tmp is its own"
    assert _groups_left() == []


def test_the_checkout_cannot_be_read_or_written(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    req = _job(
        tmp_path,
        f"cat {repo}/README.md 2>/dev/null || echo cannot-read; "
        f"(echo changed > {repo}/README.md) 2>/dev/null || echo cannot-write; "
        f"git -C {repo} log >/dev/null 2>&1 || echo no-history",
    )
    result, sink = _run(req)
    assert result.conclusion == Conclusion.SUCCESS
    assert _out(sink, 0) == ["cannot-read", "cannot-write", "no-history"]
    assert (repo / "README.md").read_text() == "original\n"


def test_the_store_cache_artifacts_and_logs_are_out_of_reach(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "stageline.db").write_text("records")
    for name in ("cache", "artifacts", "logs"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "kept").write_text(name)
    probes = " ".join(
        f"{d}/{f}"
        for d, f in [(store, "stageline.db")]
        + [(tmp_path / n, "kept") for n in ("cache", "artifacts")]
    )
    req = _job(
        tmp_path,
        f"for f in {probes}; do cat $f 2>/dev/null && echo READ-$f; "
        f"echo evil 2>/dev/null > $f && echo WROTE-$f; done; echo checked",
    )
    policy = replace(SMALL, hidden=(str(store),))
    result, sink = _run(req, policy)
    assert result.conclusion == Conclusion.SUCCESS
    assert _out(sink, 0) == ["checked"]
    assert (store / "stageline.db").read_text() == "records"
    assert (tmp_path / "cache" / "kept").read_text() == "cache"
    assert (tmp_path / "artifacts" / "kept").read_text() == "artifacts"


def test_the_host_home_is_neither_readable_nor_writable(tmp_path: Path) -> None:
    home = Path(os.path.expanduser("~"))
    secret = home / f".stageline-wall-secret-{os.getpid()}"
    probe = home / f".stageline-wall-{os.getpid()}"
    secret.write_text("key")
    req = _job(
        tmp_path,
        f'[ "$HOME" != "{home}" ] && echo fresh-home; '
        f"cat {secret} 2>/dev/null || echo cannot-read; "
        f"(echo x > {probe}) 2>/dev/null || echo cannot-write; "
        f"(echo x > {home}/.cache/x) 2>/dev/null || echo caches-read-only",
    )
    try:
        result, sink = _run(req)
    finally:
        secret.unlink()
        written = probe.exists()
        probe.unlink(missing_ok=True)
    assert result.conclusion == Conclusion.SUCCESS
    assert _out(sink, 0) == ["fresh-home", "cannot-read", "cannot-write", "caches-read-only"]
    assert not written


def test_another_jobs_workspace_is_invisible(tmp_path: Path) -> None:
    first = _job(tmp_path, 'echo mine > "$GITHUB_WORKSPACE/secret.txt"', keep_workspace=True)
    result, _ = _run(first)
    assert result.conclusion == Conclusion.SUCCESS
    other = tmp_path / "work" / "build" / "workspace"
    assert (other / "secret.txt").read_text() == "mine\n"
    second = replace(
        first,
        job=job(
            step(
                0,
                (
                    f"cat {other}/secret.txt || echo cannot-read; "
                    f"echo evil > {other}/secret.txt || echo cannot-write; "
                    f'ls "$(dirname "$(dirname "$GITHUB_WORKSPACE")")"'
                ),
            ),
            key="test",
        ),
        keep_workspace=False,
    )
    result, sink = _run(second)
    assert result.conclusion == Conclusion.SUCCESS
    lines = _out(sink, 0)
    assert "cannot-read" in lines and "cannot-write" in lines
    assert lines[-1] == "test", "only its own job directory in the work root"
    assert (other / "secret.txt").read_text() == "mine\n"


def test_other_processes_are_invisible(tmp_path: Path) -> None:
    host = subprocess.Popen(["sleep", "120"])
    try:
        req = _job(
            tmp_path,
            f"test -e /proc/{host.pid} && echo SEEN || echo unseen; "
            "ps -e -o comm= | sort -u | tr '\\n' ' '; echo",
        )
        result, sink = _run(req)
    finally:
        host.kill()
        host.wait()
    assert result.conclusion == Conclusion.SUCCESS
    assert _out(sink, 0)[0] == "unseen"
    seen = set(_out(sink, 0)[1].split())
    assert "sleep" not in seen and "python" not in " ".join(seen), seen


@pytest.fixture
def listener() -> Iterator[tuple[int, queue.Queue[bytes]]]:
    """A real TCP server on 127.0.0.1 that hands over what each connection sends."""
    server = socket.create_server(("127.0.0.1", 0))
    got: queue.Queue[bytes] = queue.Queue()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                got.put(conn.recv(100))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], got
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept
    server.close()
    thread.join(5)


def _connect(port: int) -> str:
    return (
        f"if (exec 3<>/dev/tcp/127.0.0.1/{port} && echo hello >&3) 2>/dev/null; "
        "then echo connected; else echo refused; fi"
    )


def test_no_network_without_permission(
    tmp_path: Path, listener: tuple[int, queue.Queue[bytes]]
) -> None:
    port, got = listener
    result, sink = _run(_job(tmp_path, _connect(port)))
    assert result.conclusion == Conclusion.SUCCESS
    assert _out(sink, 0) == ["refused"]
    assert got.empty()


@pytest.mark.parametrize(
    "policy",
    [
        replace(SMALL, network=True),
        replace(SMALL, network_jobs=frozenset({"build"})),
        replace(SMALL, network_environments=frozenset({"production"})),
    ],
    ids=["network-host", "job", "environment"],
)
def test_the_network_when_allowed(
    tmp_path: Path, listener: tuple[int, queue.Queue[bytes]], policy: SandboxPolicy
) -> None:
    port, got = listener
    req = _job(tmp_path, _connect(port))
    req = replace(req, job=replace(req.job, environment=PlannedEnvironment("production")))
    result, sink = _run(req, policy)
    assert result.conclusion == Conclusion.SUCCESS
    assert _out(sink, 0) == ["connected"]
    assert got.get(timeout=30) == b"hello\n"


FORK_UNTIL_REFUSED = """
import os, time
children = []
try:
    while len(children) < 1000:
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
except OSError as err:
    print("refused after", len(children), err.strerror)
for pid in children:
    os.kill(pid, 9)
raise SystemExit(1)
"""


def test_the_process_limit_refuses_forks(tmp_path: Path) -> None:
    req = _job(tmp_path, f"python3 -c '{FORK_UNTIL_REFUSED}'")
    result, sink = _run(req)
    assert result.conclusion == Conclusion.FAILURE
    line = _out(sink, 0)[0]
    assert line.startswith("refused after") and "Resource temporarily unavailable" in line
    assert int(line.split()[2]) < SMALL.processes


def _marked_processes(token: str) -> list[int]:
    """Processes whose command line names `token` (a job's paths are in every one of
    its processes' command lines: bwrap's binds, the step's script)."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if token.encode() in f.read():
                    found.append(int(name))
        except (OSError, ValueError):
            continue
    return found


def test_a_fork_bomb_is_contained_and_leaves_nothing(tmp_path: Path) -> None:
    bomb = step(
        0,
        "bomb() { bomb | bomb & }; bomb; sleep 600",
        timeout_minutes=0.05,
        shell="bash",
    )
    after = step(1, "echo the-job-goes-on", if_="always()")
    repo = make_repo(tmp_path)
    req = request(tmp_path, repo, job(bomb, after))
    result, sink = _run(req)
    assert result.conclusion == Conclusion.FAILURE
    assert result.steps[0].conclusion == Conclusion.FAILURE
    assert "the-job-goes-on" in _out(sink, 1), "the limit held: the next step could start"
    assert _marked_processes(str(tmp_path)) == []
    assert _groups_left() == []
    done = subprocess.run(["true"], check=False)  # the machine still forks
    assert done.returncode == 0


def test_a_memory_hog_is_stopped(tmp_path: Path) -> None:
    hog = "python3 -c 'b = bytearray(1 << 30); print(\"allocated\")'"
    result, sink = _run(_job(tmp_path, hog))
    assert result.conclusion == Conclusion.FAILURE
    assert "allocated" not in _out(sink, 0)
    assert any("MemoryError" in line for line in _out(sink, 0))


def test_a_file_larger_than_the_limit_is_cut(tmp_path: Path) -> None:
    req = _job(
        tmp_path,
        '(head -c 4194304 /dev/zero > "$RUNNER_TEMP/big") 2>/dev/null || echo "cut: $?"; '
        'stat -c %s "$RUNNER_TEMP/big"',
    )
    result, sink = _run(req)
    assert result.conclusion == Conclusion.SUCCESS
    assert "cut: 153" in _out(sink, 0)  # 128 + SIGXFSZ
    assert _out(sink, 0)[-1] == str(SMALL.file_size)


def test_secrets_are_still_masked(tmp_path: Path) -> None:
    req = _job(tmp_path, "echo the token is ${{ secrets.TOKEN }}", secrets={"TOKEN": "s3cr3t-v"})
    result, sink = _run(req)
    assert result.conclusion == Conclusion.SUCCESS
    assert _out(sink, 0) == ["the token is ***"]


def test_cancel_kills_the_sandboxed_step(tmp_path: Path) -> None:
    req = _job(tmp_path, "echo started; sleep 600 & sleep 600")
    cancel = asyncio.Event()
    executor = SandboxExecutor(SMALL, kill_grace=1.0)
    sink = RecordingSink()

    async def go() -> JobResult:
        task = asyncio.create_task(executor.run_job(req, sink, cancel))
        while "started" not in _out(sink) and not task.done():
            await asyncio.sleep(0.01)
        cancel.set()
        return await asyncio.wait_for(task, 30)

    result = asyncio.run(go())
    assert result.conclusion == Conclusion.CANCELLED
    assert _marked_processes(str(tmp_path)) == []
    assert _groups_left() == []


def test_the_step_gets_its_whole_environment_and_no_file_is_left(tmp_path: Path) -> None:
    dashed = step(0, 'env | grep "^INPUT_" | sort', env={"INPUT_PYTHON-VERSION": "3.12"})
    spaced = step(1, 'printf "%s|" "$MULTI"; echo', env={"MULTI": "one two\nthree"})
    req = request(tmp_path, make_repo(tmp_path), job(dashed, spaced))
    result, sink = _run(req)
    assert result.conclusion == Conclusion.SUCCESS
    assert _out(sink, 0) == ["INPUT_PYTHON-VERSION=3.12"]  # not a shell name: kept all the same
    assert _out(sink, 1) == ["one two", "three|"]
    assert [p.name for p in (tmp_path / "work").iterdir() if p.name.startswith(".bwrap")] == []


def test_an_upload_does_not_follow_a_link_out_of_the_job(tmp_path: Path) -> None:
    host = tmp_path / "host-secret.txt"
    host.write_text("host only")
    plant = step(0, f'ln -s {host} "$GITHUB_WORKSPACE/leak.txt"')
    upload = step(1, uses="actions/upload-artifact@v4", with_={"name": "x", "path": "leak.txt"})
    req = request(tmp_path, make_repo(tmp_path), job(plant, upload))
    result, _ = _run(req)
    assert result.steps[1].conclusion == Conclusion.FAILURE
    assert any("leads out of the job's directory" in a.message for a in result.annotations)
    assert not (tmp_path / "artifacts" / "x").exists()


def test_a_download_or_restore_does_not_write_through_a_link(tmp_path: Path) -> None:
    from stageline.runner.actions.cache import version_of
    from stageline.runner.places import save_entry, store_artifact

    source = tmp_path / "source"
    (source / "dir").mkdir(parents=True)
    (source / "dir" / "planted.txt").write_text("from the job")
    store_artifact(
        str(tmp_path / "artifacts"), "x", str(source), ["dir/planted.txt"], {}, False, False
    )
    save_entry(str(tmp_path / "cache"), version_of(["dir"]), "k", ["dir"], str(source))
    victim = tmp_path / "victim"
    victim.mkdir()
    plant = step(0, f'ln -s {victim} "$GITHUB_WORKSPACE/dir"')
    download = step(1, uses="actions/download-artifact@v4", with_={"name": "x"})
    restore = step(
        2, uses="actions/cache/restore@v4", with_={"path": "dir", "key": "k"}, if_="always()"
    )
    req = request(tmp_path, make_repo(tmp_path), job(plant, download, restore))
    result, _ = _run(req)
    assert [s.conclusion for s in result.steps[1:]] == [Conclusion.FAILURE] * 2
    refused = [a for a in result.annotations if "is a link out of the job's directory" in a.message]
    assert len(refused) == 2, result.annotations
    assert list(victim.iterdir()) == []


def test_a_cache_save_does_not_follow_a_link_out_of_the_job(tmp_path: Path) -> None:
    host = tmp_path / "host-secret.txt"
    host.write_text("host only")
    plant = step(0, f'ln -s {host} "$GITHUB_WORKSPACE/leak.txt"')
    save = step(1, uses="actions/cache/save@v4", with_={"path": "leak.txt", "key": "k"})
    req = request(tmp_path, make_repo(tmp_path), job(plant, save))
    result, _ = _run(req)
    assert result.conclusion == Conclusion.SUCCESS  # as GitHub: a save that fails warns
    warned = [a.message for a in result.annotations if a.level == "warning"]
    assert any("Failed to save" in m and "leads out" in m for m in warned), warned
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_a_job_with_services_but_no_network_is_warned(tmp_path: Path) -> None:
    req = _job(tmp_path, "echo hi")
    req = replace(req, job=replace(req.job, services={"db": {"image": "postgres"}}))
    result, sink = _run(req)
    assert result.conclusion == Conclusion.SUCCESS
    warned = [a.message for kind, a in sink.calls if kind == "annotation"]
    assert any("has services, but the sandbox gives it no network" in m for m in warned)
    result, sink = _run(replace(req, attempt=2), replace(SMALL, network=True))
    assert not [a for kind, a in sink.calls if kind == "annotation"]

"""Fault injection: the engine killed or hung up at each kind of point, with real
processes, and the guarantees checked afterwards (issue 12).

Points × signals (the ``record`` point dies by the store's own fault hook,
``STAGELINE_FAULT=record.write@N``, which is a SIGKILL in the middle of a write
transaction):

========  ===================================  =======  =======
point     where the engine is                  SIGKILL  SIGHUP
========  ===================================  =======  =======
step      a test step sleeping                 yes      yes
gate      waiting for an approval              yes      yes
deploy    the deploy step sleeping             yes      yes
bake      the bake window watching             yes      yes
rollback  the rollback script running          yes      yes
between   a job done, its dependent not begun  yes      yes
record    between jobs, mid-transaction        yes      -
========  ===================================  =======  =======

(``between`` is the engine's own fault point, ``STAGELINE_FAULT=job.finished@1:SIG``.)

Besides the matrix: a run killed in a step or mid-deploy whose death is detected first
(`stageline runs` reaps it) still resumes to a success; and a rollback killed with
SIGKILL of the process doing it (`stageline run`'s automatic rollback, or `stageline
rollback`), by script or by re-running the deploy job, takes its processes with it and
is completed by the next `stageline rollback`. Only the engine's pid is signalled,
never its process group: steps and rollback scripts must die by the watchdog.

After each: the engine has exited; no process a step started survives; no work root
(with its step scripts, which carry secrets) is left on tmpfs and no secret is in the
store; the record reads (`show --json`); a run that is still unfinished resumes to its
end, else it ended with a stated reason; no deployment is left queued or in progress;
the line a step wrote before the kill is in `stageline logs`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.deploy_env import (
    Environment,
    Repo,
    deployments,
    environ,
    environment,
    make_repo,
    monitor,
    show,
    stageline,
    wait_until,
    waiting_job,
)

pytestmark = pytest.mark.slow

SECRET = "fault-secret-4c1d9e"

#: Every step and script records its pid (and its background child's) in `pids`, says
#: a line, then sleeps while `STATE_DIR/hang-<point>` exists.
HANG = """
echo "{point}: before the kill"
if [ -f "$STATE_DIR/hang-{point}" ]; then
  sleep 120 & echo $! >> "$STATE_DIR/pids"
  echo $$ >> "$STATE_DIR/pids"
  touch "$STATE_DIR/ready-{point}"
  wait
fi
"""

WORKFLOW = """name: Deliver
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "token ${{{{ secrets.TOKEN }}}}" > /dev/null
{step}
  deploy:
    needs: test
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - uses: actions/checkout@v4
      - run: ./deploy.sh
"""

DEPLOY_SH = (
    """#!/bin/sh
set -e
release=$(cat release.txt)
"""
    + HANG.format(point="deploy")
    + """echo "$release" > "$STATE_DIR/current"
echo "$release rollback=${STAGELINE_ROLLBACK:-false}" >> "$STATE_DIR/deploys.log"
"""
)

ROLLBACK_SH = "#!/bin/sh\n" + HANG.format(point="rollback") + 'echo v0 > "$STATE_DIR/current"\n'


def indented(text: str, by: int) -> str:
    return "".join(" " * by + line + "\n" for line in text.strip("\n").splitlines())


def config_for(point: str, service: Environment) -> str:
    if point == "gate":
        return (
            "environments:\n  staging:\n    approval:\n      rules:\n        - {reviewers: [bob]}\n"
        )
    if point == "bake":
        return "environments:\n  staging:\n" + monitor(service, duration="60s")
    if point == "rollback":
        return (
            "environments:\n  staging:\n"
            + monitor(service)
            + "    rollback: {mode: auto, run: ./rollback.sh}\n"
        )
    return "environments:\n  staging: {}\n"


def world(tmp_path: Path, service: Environment, point: str) -> Repo:
    workflow = WORKFLOW.format(step=indented(HANG.format(point="step"), 10))
    release = "v1-bad" if point == "rollback" else "v1"
    repo = make_repo(
        tmp_path, service.state, config_for(point, service), workflow=workflow, release=release
    )
    (repo.path / "deploy.sh").write_text(DEPLOY_SH)
    (repo.path / "rollback.sh").write_text(ROLLBACK_SH)
    (repo.path / "rollback.sh").chmod(0o755)
    (repo.path / ".secrets").write_text(f"TOKEN={SECRET}\n")
    (repo.path / ".gitignore").write_text(".stageline/\n.env\n.secrets\n")
    repo.commit(release)
    if point in ("step", "deploy", "rollback"):
        (repo.state / f"hang-{point}").touch()
    return repo


def start(repo: Repo, **env: str) -> subprocess.Popen[str]:
    """`stageline run` in its own session (a signal to it reaches the engine alone)."""
    return subprocess.Popen(
        [sys.executable, "-m", "stageline", "run"],
        cwd=repo.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ(STAGELINE_USER="alice", **env),
        start_new_session=True,
    )


def reached(repo: Repo, point: str) -> bool:
    if point in ("step", "deploy", "rollback"):
        return (repo.state / f"ready-{point}").exists()
    waiting = (waiting_job(repo) or {}).get("waiting_for") or ""
    return waiting.startswith("waiting for approval" if point == "gate" else "bake window")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def step_pids(repo: Repo) -> list[int]:
    pids = repo.state / "pids"
    return [int(p) for p in pids.read_text().split()] if pids.exists() else []


def left_on_tmpfs(engine: int) -> list[str]:
    shm = Path("/dev/shm")
    return [p.name for p in shm.glob(f"stageline-run-{engine}-*")] if shm.is_dir() else []


def secret_in_store(repo: Repo) -> list[str]:
    found = subprocess.run(
        ["grep", "-rl", SECRET, str(repo.path / ".stageline")], capture_output=True, text=True
    )
    return found.stdout.split()


def stored_status(repo: Repo) -> str:
    """The run's status as stored (read without reaping, as `resume` reads it)."""
    from stageline.store import open_store

    with open_store(repo.path / ".stageline") as store:
        return store.runs.get_run(1).run.status


def check_aftermath(repo: Repo, engine: subprocess.Popen[str]) -> None:
    """What every kill must leave: no step process, no work root, no secret on disk."""
    engine.communicate(timeout=60)
    pids = step_pids(repo)
    wait_until(lambda: not any(alive(p) for p in pids), what=f"steps {pids} to die")
    wait_until(lambda: not left_on_tmpfs(engine.pid), what="the work root to go")
    assert secret_in_store(repo) == []
    for point in ("step", "deploy"):
        if (repo.state / f"ready-{point}").exists():  # its line is in its log on disk
            logs = repo.path / ".stageline" / "logs"
            found = subprocess.run(["grep", "-rl", f"{point}: before the kill", str(logs)])
            assert found.returncode == 0


def finish_run(repo: Repo, point: str) -> dict[str, object]:
    """Resume the run if it is unfinished, after lifting what held it; its final record
    (which must read, end with a stated reason if not a success, and leave no deployment
    unfinished)."""
    for name in ("step", "deploy", "rollback"):
        (repo.state / f"hang-{name}").unlink(missing_ok=True)
    if stored_status(repo) != "completed":
        if point == "gate":
            assert stageline(repo, "approve", "1", "--as", "bob").returncode == 0
        done = stageline(repo, "resume", "1", timeout=120)
        assert "Traceback" not in done.stderr
        assert done.returncode in (0, 1), done.stderr
    document = show(repo)
    assert document["status"] == "completed", document
    if document["conclusion"] != "success":
        jobs: list[dict[str, object]] = document["jobs"]  # type: ignore[assignment]
        assert document["reason"] or any(j["reason"] for j in jobs)
    unfinished = [d for d in deployments(repo) if d["status"] in ("queued", "in_progress")]
    assert unfinished == []
    return document


POINTS = ["step", "gate", "deploy", "bake", "rollback"]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP], ids=["SIGKILL", "SIGHUP"])
@pytest.mark.parametrize("point", POINTS)
def test_the_engine_killed_at_a_point(tmp_path: Path, point: str, signum: signal.Signals) -> None:
    with environment(tmp_path) as service:
        repo = world(tmp_path, service, point)
        engine = start(repo)
        try:
            wait_until(lambda: reached(repo, point), timeout=120, what=f"the run at {point}")
        except AssertionError:
            os.killpg(engine.pid, signal.SIGKILL)
            raise AssertionError(engine.communicate()) from None
        os.kill(engine.pid, signum)  # the engine alone: its steps and scripts live on
        check_aftermath(repo, engine)
        document = finish_run(repo, point)
        if point in ("step", "gate", "deploy") and signum == signal.SIGKILL:
            assert document["conclusion"] == "success"  # resumed to the end
            assert repo.current() == "v1"
        if point == "rollback" and signum == signal.SIGKILL:
            assert repo.current() == "v0"  # the resume completed the rollback


@pytest.mark.parametrize("sent", ["KILL", "HUP"])
def test_the_engine_killed_between_two_jobs(tmp_path: Path, sent: str) -> None:
    """The signal comes as the first job (test) has finished, before its dependent
    (deploy) starts: a fault point in the engine, as no outside timing can hit it.
    SIGKILL: `show` finds the run dead and concludes it with the reason; `resume` then
    runs it to its end. SIGHUP: the engine cancels it, with the reason, as on SIGTERM."""
    with environment(tmp_path) as service:
        repo = world(tmp_path, service, "between")
        engine = start(repo, STAGELINE_FAULT=f"job.finished@1:{sent}")
        check_aftermath(repo, engine)
        assert engine.returncode == (-signal.SIGKILL if sent == "KILL" else 129), engine.stderr
        concluded = show(repo)
        assert (concluded["status"], concluded["conclusion"]) == (
            "completed",
            "failure" if sent == "KILL" else "cancelled",
        ), concluded
        assert concluded["reason"], concluded
        assert not (repo.state / "deploys.log").exists()  # the deploy step never ran
        if sent == "KILL":
            done = stageline(repo, "resume", "1", timeout=120)
            assert done.returncode == 0, done.stderr
        document = finish_run(repo, "between")
    if sent == "KILL":  # resumed to its end: the deploy job ran, once
        assert document["conclusion"] == "success", json.dumps(document)
        assert repo.current() == "v1"
        assert len((repo.state / "deploys.log").read_text().splitlines()) == 1


@pytest.mark.parametrize("passage", [2, 4])
def test_the_engine_dies_in_a_record_write(tmp_path: Path, passage: int) -> None:
    with environment(tmp_path) as service:
        repo = world(tmp_path, service, "record")
        engine = start(repo, STAGELINE_FAULT=f"record.write@{passage}")
        engine.communicate(timeout=120)
        assert engine.returncode == -signal.SIGKILL
        check_aftermath(repo, engine)
        finish_run(repo, "record")


def test_a_deploy_killed_midway_leaves_the_environment_unknown_until_a_decision(
    tmp_path: Path,
) -> None:
    """Item 2: the deploy step dies with the engine, the deployment is concluded when
    the death is detected, and `environments` and `lint` say the state is unknown
    until a rollback decides it."""
    with environment(tmp_path) as service:
        repo = world(tmp_path, service, "deploy")
        (repo.state / "hang-deploy").unlink()
        done = stageline(repo, "run", timeout=120)
        assert done.returncode == 0, done.stderr
        (repo.state / "hang-deploy").touch()
        repo.commit("v2")
        engine = start(repo)
        wait_until(lambda: reached(repo, "deploy"), timeout=120, what="the deploy to hang")
        os.kill(engine.pid, signal.SIGKILL)
        check_aftermath(repo, engine)
        assert "deploy: before the kill" in stageline(repo, "logs", "2").stdout
        assert repo.current() == "v1"  # the killed deploy never finished behind our back

        shown = stageline(repo, "environments")
        assert shown.returncode == 0, shown.stderr
        text = " ".join(shown.stdout.split())
        assert "state: unknown: deployment #2" in text
        assert "Decide: `stageline rollback staging`" in text
        assert "deploying:" not in text
        [document] = json.loads(stageline(repo, "environments", "--json").stdout)
        assert document["deploying"] is None and document["state"].startswith("unknown")
        second = deployments(repo)[1]
        assert second["status"] == "failure"
        assert second["reason"].startswith("interrupted: the stageline process (pid ")
        linted = stageline(repo, "lint")
        assert linted.returncode == 1
        assert "environment staging: unknown: deployment #2" in linted.stdout

        (repo.state / "hang-deploy").unlink()
        rolled = stageline(repo, "rollback", "staging", "--as", "alice", timeout=120)
        assert rolled.returncode == 0, rolled.stderr
        assert repo.current() == "v1" and repo.deploys()[-1] == "v1 rollback=true"
        assert "state:" not in stageline(repo, "environments").stdout
        assert stageline(repo, "lint").stdout.count("unknown") == 0


def test_a_resume_after_a_kill_mid_deploy_deploys_again_under_a_new_record(
    tmp_path: Path,
) -> None:
    with environment(tmp_path) as service:
        repo = world(tmp_path, service, "deploy")
        engine = start(repo)
        wait_until(lambda: reached(repo, "deploy"), timeout=120, what="the deploy to hang")
        os.kill(engine.pid, signal.SIGKILL)
        check_aftermath(repo, engine)
        (repo.state / "hang-deploy").unlink()
        done = stageline(repo, "resume", "1", timeout=120)
        assert done.returncode == 0, done.stderr
        first, second = deployments(repo)
        assert first["status"] == "failure" and first["reason"].startswith("interrupted: ")
        assert second["status"] == "success"
        assert repo.deploys() == ["v1 rollback=false"]


def test_logs_follow_says_so_and_fails_when_the_run_dies(tmp_path: Path) -> None:
    with environment(tmp_path) as service:
        repo = world(tmp_path, service, "step")
        engine = start(repo)
        wait_until(lambda: reached(repo, "step"), timeout=120, what="the step to hang")
        follow = subprocess.Popen(
            [sys.executable, "-m", "stageline", "logs", "1", "--follow"],
            cwd=repo.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environ(),
        )
        assert follow.stdout is not None
        while "step: before the kill" not in follow.stdout.readline():
            pass
        os.kill(engine.pid, signal.SIGKILL)
        check_aftermath(repo, engine)
        _, err = follow.communicate(timeout=120)
        assert follow.returncode == 1
        assert "run 1 stopped: the stageline process (pid " in err
        assert "Traceback" not in err


@pytest.mark.parametrize("point", ["step", "deploy"])
def test_a_run_reaped_after_a_kill_resumes_to_the_end(tmp_path: Path, point: str) -> None:
    """Item 2's decision `resume`: once a command has detected the engine's death (the
    run and its deploy concluded "interrupted"), `resume` re-runs what was interrupted
    and the run ends as an uninterrupted one would."""
    with environment(tmp_path) as service:
        repo = world(tmp_path, service, point)
        engine = start(repo)
        wait_until(lambda: reached(repo, point), timeout=120, what=f"the run at {point}")
        os.kill(engine.pid, signal.SIGKILL)
        check_aftermath(repo, engine)
        assert stageline(repo, "runs").returncode == 0  # detects the death: reaps the run
        assert stored_status(repo) == "completed"
        if point == "deploy":
            shown = " ".join(stageline(repo, "environments").stdout.split())
            decide = "Decide: `stageline rollback staging`, or deploy again: `stageline resume 1`"
            assert decide in shown
        (repo.state / f"hang-{point}").unlink()
        done = stageline(repo, "resume", "1", timeout=120)
        assert done.returncode == 0, done.stderr
        document = show(repo)
        assert (document["status"], document["conclusion"]) == ("completed", "success")
        assert document["reason"] in (None, "")
        assert {j["name"]: j["conclusion"] for j in document["jobs"]} == {
            "test": "success",
            "deploy": "success",
        }
        assert repo.current() == "v1" and repo.deploys() == ["v1 rollback=false"]
        records = deployments(repo)
        assert records[-1]["status"] == "success"
        if point == "deploy":
            assert records[0]["status"] == "failure"
            assert records[0]["reason"].startswith("interrupted: ")
        assert "state:" not in stageline(repo, "environments").stdout
        assert stageline(repo, "resume", "1").returncode == 1  # a success is not resumed


#: A deploy script that hangs only when it runs for a rollback (a re-run of its job).
REDEPLOY_SH = DEPLOY_SH.replace(
    HANG.format(point="deploy"),
    'if [ "${STAGELINE_ROLLBACK:-false}" = true ]; then\n' + HANG.format(point="redeploy") + "fi\n",
)


@pytest.mark.parametrize("killed", ["run", "rollback"])
@pytest.mark.parametrize("method", ["script", "redeploy"])
def test_a_rollback_killed_midway_takes_its_processes_with_it(
    tmp_path: Path, method: str, killed: str
) -> None:
    """Item 2 for rollbacks: the `rollback.run` script and a deploy job re-run for a
    rollback die with the process that runs them (an automatic rollback of `stageline
    run`, or `stageline rollback`), SIGKILL included; the next rollback completes it."""
    with environment(tmp_path) as service:
        repo = world(tmp_path, service, "step")
        (repo.state / "hang-step").unlink()
        (repo.path / "deploy.sh").write_text(REDEPLOY_SH)
        config = "environments:\n  staging:\n"
        if killed == "run":  # the bad release's bake window rolls it back at once
            config += monitor(service)
        if method == "script":
            config += "    rollback: {run: ./rollback.sh}\n"
        (repo.path / ".stageline.yml").write_text(config)
        repo.commit("v1")
        assert stageline(repo, "run", timeout=120).returncode == 0
        replaced = "v2-bad" if killed == "run" else "v2"
        repo.commit(replaced)
        if killed == "rollback":
            assert stageline(repo, "run", timeout=120).returncode == 0
        hang = "rollback" if method == "script" else "redeploy"
        (repo.state / f"hang-{hang}").touch()
        command = ["run"] if killed == "run" else ["rollback", "staging", "--as", "alice"]
        engine = subprocess.Popen(
            [sys.executable, "-m", "stageline", *command],
            cwd=repo.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environ(STAGELINE_USER="alice"),
            start_new_session=True,
        )
        ready = repo.state / f"ready-{hang}"
        wait_until(ready.exists, timeout=120, what="the rollback to hang")
        os.kill(engine.pid, signal.SIGKILL)  # the engine alone: its own group lives on
        check_aftermath(repo, engine)
        assert repo.current() == replaced  # the rollback did not finish behind our back
        (repo.state / f"hang-{hang}").unlink()
        rolled = stageline(repo, "rollback", "staging", "--as", "alice", timeout=120)
        assert rolled.returncode == 0, rolled.stderr
        assert repo.current() == ("v0" if method == "script" else "v1")

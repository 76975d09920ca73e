"""Start, stop and check one environment's service process (standard library only).

Layout under an environment directory ENV_DIR (see deploy.sh)::

    ENV_DIR/releases/<release>/   an unpacked artifact
    ENV_DIR/current -> releases/<release>
    ENV_DIR/service.pid           the running server's pid
    ENV_DIR/service.log           its output, appended

The server runs in its own session with an environment built from scratch, so it
outlives the CI step that started it (and is not mistaken for one of its processes).

Usage: python3 service.py start|stop|restart|status ENV_DIR [--port N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def read_pid(env_dir: Path) -> int | None:
    """The pid of the environment's server if it is still running."""
    try:
        pid = int((env_dir / "service.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():  # Linux: rule out a zombie nobody reaped, a reused pid
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
            if state == "Z" or b"webapp" not in (proc / "cmdline").read_bytes():
                return None
        except OSError:
            return None
    return pid


def health(port: int) -> dict[str, str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError):
        return None


def stop(env_dir: Path) -> None:
    pid = read_pid(env_dir)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while read_pid(env_dir) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if read_pid(env_dir) is not None:
            os.kill(pid, signal.SIGKILL)
        print(f"stopped {env_dir.name} (pid {pid})")
    (env_dir / "service.pid").unlink(missing_ok=True)


def start(env_dir: Path, port: int) -> int:
    release_dir = (env_dir / "current").resolve(strict=True)
    release = (release_dir / "RELEASE").read_text().strip()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": str(port),
        "RELEASE": release,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with open(env_dir / "service.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp"],
            cwd=release_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (env_dir / "service.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        answer = health(port)
        if answer and answer.get("release") == release:
            print(f"started {env_dir.name} release {release} on port {port} (pid {process.pid})")
            return 0
        time.sleep(0.05)
    stop(env_dir)
    tail = (env_dir / "service.log").read_text(errors="replace").splitlines()[-10:]
    print(f"{env_dir.name}: release {release} did not become healthy on port {port}")
    print("\n".join(tail))
    return 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "restart", "status"])
    parser.add_argument("env_dir", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.action in ("start", "restart") and not args.port:
        parser.error(f"{args.action} needs --port")
    if args.action == "status":
        pid = read_pid(args.env_dir)
        print(f"{args.env_dir.name}: " + (f"running (pid {pid})" if pid else "stopped"))
        return 0 if pid else 3
    if args.action in ("stop", "restart"):
        stop(args.env_dir)
    if args.action in ("start", "restart"):
        return start(args.env_dir, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

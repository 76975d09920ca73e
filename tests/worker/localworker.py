"""`stageline worker` for tests, run as `python -m tests.worker.localworker REPO_DIR
MODULES_FILE -- WORKER ARGS...`: the real command, with one difference: the jobs' ports
are the local implementations (`runner.places`) on REPO_DIR instead of the server's git
HTTP and file routes, so a test needs only the agent API (`tests.worker.stub`).

At exit it writes the `stageline.*` modules the process loaded to MODULES_FILE (JSON),
so a test can check that a worker never loads the engine or the store.
"""

from __future__ import annotations

import atexit
import json
import sys
import types

from stageline.runner.places import LocalDirs, local_ports
from stageline.runner.ports import JobPorts
from stageline.worker.task import Assignment


def main() -> None:
    repo_dir, modules_file, separator, *args = sys.argv[1:]
    assert separator == "--", sys.argv

    async def ports(job: Assignment) -> JobPorts:
        dirs = LocalDirs(
            repo_dir=repo_dir,
            work_root=str(job.run_root),
            artifacts_dir=str(job.scratch / "artifacts"),
            cache_dir=str(job.scratch / "cache"),
            log_dir=str(job.scratch / "logs"),
        )
        local = local_ports(dirs, job.request.sha)
        return JobPorts(local.workspaces, local.artifacts, local.cache, job.logs)

    remote = types.ModuleType("stageline.worker.remote")
    remote.remote_ports = ports  # type: ignore[attr-defined]
    sys.modules["stageline.worker.remote"] = remote

    def report() -> None:
        with open(modules_file, "w", encoding="utf-8") as f:
            json.dump(sorted(m for m in sys.modules if m.startswith("stageline")), f)

    atexit.register(report)
    from stageline.cli.app import main as stageline

    sys.argv = ["stageline", "worker", *args]
    stageline()


if __name__ == "__main__":
    main()

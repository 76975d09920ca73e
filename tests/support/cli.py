"""The real `stageline` command, run in a fresh interpreter as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def stageline(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m stageline ARGS` in `cwd`, text output captured. The caller's own
    STAGELINE_* settings (home, user, debug) are left out so a test sees only `env`;
    ``STAGELINE_TEST_EXECUTOR=sandbox`` runs them all under that executor."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    if os.environ.get("STAGELINE_TEST_EXECUTOR"):
        environ["STAGELINE_EXECUTOR"] = os.environ["STAGELINE_TEST_EXECUTOR"]
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )

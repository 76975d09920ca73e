"""`stageline serve` in a subprocess on a free port of 127.0.0.1, as a team runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.http import free_port


@contextmanager
def serving(data_dir: Path, *, timeout: float = 60) -> Iterator[str]:
    """The server's base URL once `/api/v1/health` answers 200; SIGTERM at the end
    (the server must then stop within `timeout`)."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    log = (data_dir.parent / f"serve-{port}.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stageline",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"stageline serve exited: {Path(log.name).read_text()}")
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("stageline serve did not become ready")
            time.sleep(0.05)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()

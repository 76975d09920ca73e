"""CPU time and statements per API request, in-process: figures that depend little on
the machine's load, to compare two versions of the server.

The FastAPI app (its lifespan, a real store: SQLite in a temp data dir, or a throwaway
PostgreSQL database) answers an in-process HTTP client (`httpx.ASGITransport`); the
thread pool's calls run inline, so the one thread's CPU time is the whole request's
(the client's included: see `/api/v1/health`, which touches neither auth nor store).
A signed post-receive delivery first starts one run of a JOBS-job workflow.

    python bench/bench_api_cpu.py                   # both stores
    python bench/bench_api_cpu.py --store sqlite --jobs 100

Statements: SQLAlchemy's `before_cursor_execute` on PostgreSQL; on SQLite the
connection's trace callback, which also sees BEGIN and COMMIT.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
from bench_server import (
    REPO,
    SECRET,
    child_env,
    git,
    postgres_database,
    server_data,
    workflow,
)

STATEMENTS = [0]


async def _inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
    return func(*args)


def _count_statements() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    import stageline.store.db as db
    import stageline.store.sqlite as sqlite_store

    def counted(conn: Any, *_: Any) -> None:
        if conn.dialect.name == "postgresql":
            STATEMENTS[0] += 1

    event.listen(Engine, "before_cursor_execute", counted)
    connect = sqlite_store.connect

    def traced(path: Path) -> sqlite3.Connection:
        raw = connect(path)
        raw.set_trace_callback(lambda _: STATEMENTS.__setitem__(0, STATEMENTS[0] + 1))
        return raw

    sqlite_store.connect = traced
    db.connect = traced  # type: ignore[attr-defined]


def _server(root: Path, jobs: int, url: str | None) -> tuple[Path, Path, str]:
    env = child_env(url)
    source = root / "source"
    (source / ".github/workflows").mkdir(parents=True)
    (source / ".github/workflows/bench.yml").write_text(workflow(jobs))
    git(source, "init", "-q", "-b", "main")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "bench")
    data, token = server_data(root, source, env)
    return source, data, token


async def _measure(store: str, jobs: int, n: int, url: str | None) -> list[str]:
    from stageline.server.app import ServerSettings, create_app

    rows = []
    with tempfile.TemporaryDirectory(prefix="stageline-bench-api-") as tmp:
        source, data, token = _server(Path(tmp), jobs, url)
        app = create_app(ServerSettings(data_dir=data, database_url=url))
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as c,
        ):
            sha = git(source, "rev-parse", "HEAD")
            push = {"ref": "refs/heads/main", "before": "0" * 40, "after": sha, "pusher": "b"}
            body = json.dumps(push).encode()
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            answer = await c.post(
                "/hooks/git",
                params={"repo": REPO},
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Stageline-Signature-256": f"sha256={signature}",
                    "X-Stageline-Delivery": str(uuid.uuid4()),
                },
            )
            (run_id,) = answer.json()["run_ids"]
            while (await c.get(f"/api/v1/runs/{run_id}")).json()["status"] != "completed":
                await asyncio.sleep(0.3)
            for path, name in (
                ("/api/v1/runs?limit=20", "GET /api/v1/runs?limit=20"),
                (f"/api/v1/runs/{run_id}", f"GET /api/v1/runs/ID ({jobs} jobs)"),
                ("/api/v1/health", "GET /api/v1/health"),
            ):
                for _ in range(20):
                    await c.get(path)
                best = float("inf")
                for _ in range(3):
                    STATEMENTS[0] = 0
                    began = time.process_time()
                    for _ in range(n):
                        if (await c.get(path)).status_code != 200:
                            raise SystemExit(f"{path} failed")
                    best = min(best, (time.process_time() - began) / n * 1000)
                rows.append(
                    f"{name:<34}{store:<10}{best:>8.2f} ms CPU{STATEMENTS[0] / n:>8.1f} statements"
                )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=20, help="jobs in the run read")
    parser.add_argument("-n", type=int, default=300, help="requests of each kind (x3)")
    args = parser.parse_args(argv)
    anyio.to_thread.run_sync = _inline  # type: ignore[assignment]
    _count_statements()
    rows = [f"{'request':<34}{'store':<10}{'per request (best of 3, client incl.)':>30}"]
    if args.store in ("sqlite", "both"):
        rows += asyncio.run(_measure("sqlite", args.jobs, args.n, None))
    if args.store in ("postgres", "both"):
        with postgres_database() as url:
            rows += asyncio.run(_measure("postgres", args.jobs, args.n, url))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

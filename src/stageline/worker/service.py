"""`stageline worker`: a Celery consumer of the job queues, with its heartbeat (ADR 0012).

The pool is Celery's `threads`: a job is a subprocess tree the runner waits on, so a
thread per job costs little, and one process holds every current attempt, which lets
one heartbeat thread extend all their leases and set their cancel tokens directly (a
prefork pool would need a heartbeat per child, or messages between processes).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Any

import httpx

from stageline import __version__
from stageline.worker.client import TIMEOUT_S, AgentError, detail
from stageline.worker.heartbeat import Attempts, Heartbeat
from stageline.worker.protocol import TASK_NAME, TaskArgs, WorkerBeat, celery_app
from stageline.worker.task import ClaimUnreachable, PortsFactory, WorkerConfig, run_attempt

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("stageline.worker")


def worker_app(config: WorkerConfig, attempts: Attempts, ports: PortsFactory) -> Celery:
    """The Celery app with the task `TASK_NAME` registered for this worker."""
    from celery.exceptions import Reject

    app = celery_app(config.broker)

    def job(**kwargs: Any) -> None:
        try:
            run_attempt(TaskArgs.from_dict(kwargs), config, attempts, ports)
        except ClaimUnreachable as err:
            log.warning("%s; the task goes back to the queue", err)
            raise Reject(str(err), requeue=True) from err

    app.task(name=TASK_NAME)(job)
    return app


def beat_of(config: WorkerConfig) -> WorkerBeat:
    return WorkerBeat(
        queues=list(config.queues),
        concurrency=config.concurrency,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        version=__version__,
    )


def _safe(url: str) -> str:
    """The broker URL without its password."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


def check_server(heartbeat: Heartbeat, server: str) -> None:
    """One heartbeat now, so that a wrong URL or token fails at start, clearly."""
    try:
        heartbeat.beat()
    except httpx.HTTPStatusError as err:
        status = err.response.status_code
        if status in (401, 403):
            raise AgentError(
                f"the server at {server} refused the worker's token (HTTP {status})",
                hint="STAGELINE_TOKEN must be a token of a user with the worker (or admin) role",
            ) from None
        if status == 404:
            raise AgentError(
                f"the server at {server} has no agent API (HTTP 404)",
                hint="is it a Stageline server (`stageline serve --executor celery`)?",
            ) from None
        raise AgentError(
            f"the server at {server} refused the worker (HTTP {status}): {detail(err.response)}"
        ) from None
    except httpx.HTTPError as err:
        raise AgentError(
            f"cannot reach the server at {server}: {err or type(err).__name__}",
            hint="check --server, and that `stageline serve` runs there",
        ) from None


def check_broker(broker: str) -> None:
    """Connect to the broker once, so that a wrong URL fails at start, clearly."""
    try:
        with celery_app(broker).connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=5)
    except Exception as err:  # kombu raises a different error per transport and scheme
        raise AgentError(
            f"cannot reach the broker at {_safe(broker)}: {err or type(err).__name__}",
            hint="check --broker (redis://HOST:6379/0 or amqp://USER:PASSWORD@HOST:5672//)",
        ) from None


def serve(config: WorkerConfig, ports: PortsFactory | None = None) -> int:
    """Run the worker until it is stopped (SIGTERM or Ctrl-C: a warm shutdown that lets
    running jobs end); its exit code."""
    from celery.concurrency import get_implementation

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per heartbeat
    attempts = Attempts()
    headers = {"Authorization": f"Bearer {config.token}", "Accept": "application/json"}
    with httpx.Client(
        base_url=config.server.rstrip("/"), headers=headers, timeout=TIMEOUT_S
    ) as http:
        heartbeat = Heartbeat(http, config.name, beat_of(config), attempts)
        check_server(heartbeat, config.server)
        check_broker(config.broker)
        if ports is None:
            from stageline.worker.remote import remote_ports

            ports = remote_ports
        app = worker_app(config, attempts, ports)
        config.cache_dir.mkdir(parents=True, exist_ok=True)
        log.info(
            "worker %s: serving %s for %s (concurrency %d), broker %s",
            config.name,
            ",".join(config.queues),
            config.server,
            config.concurrency,
            _safe(config.broker),
        )
        heartbeat.start()
        try:
            node = config.name if "@" in config.name else f"{config.name}@{socket.gethostname()}"
            worker = app.Worker(
                hostname=node,
                pool_cls=get_implementation("threads"),
                concurrency=config.concurrency,
                queues=list(config.queues),
                loglevel="INFO",
                without_gossip=True,
                without_mingle=True,
                quiet=True,
            )
            worker.start()
            return int(worker.exitcode or 0)
        finally:
            heartbeat.stop()


__all__ = ["beat_of", "check_broker", "check_server", "serve", "worker_app"]

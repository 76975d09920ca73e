"""One attempt on this worker: claim → run → finish (ADR 0012).

`run_attempt` is the body of the Celery task `TASK_NAME`; it runs in a thread of the
worker's pool, on an event loop of its own. The broker's message only names the attempt;
the request (with its secrets) comes from the server's claim reply, and a claim the
server refuses (409: a duplicate delivery, a cancelled or re-sent attempt) drops the
task: it returns normally, so the message is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from stageline.runner import run_job
from stageline.runner.contract import JobRequest, JobResult
from stageline.runner.ports import JobPorts, LogStore
from stageline.runs.states import Conclusion
from stageline.worker import client
from stageline.worker.client import EventStream, Refused, Stale
from stageline.worker.heartbeat import Attempts, Cancel, Running
from stageline.worker.logs import RemoteLogs
from stageline.worker.protocol import DEFAULT_BROKER, DEFAULT_QUEUE, TaskArgs
from stageline.worker.sink import RemoteSink

log = logging.getLogger("stageline.worker")


def default_name() -> str:
    """`<hostname>-<pid>`: unique among the workers of one machine."""
    return f"{socket.gethostname()}-{os.getpid()}"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stageline" / "worker"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """A worker's settings (`stageline worker`'s options; the token from the environment)."""

    server: str
    token: str = field(repr=False)
    name: str
    cache_dir: Path
    broker: str = DEFAULT_BROKER
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    concurrency: int = 2


@dataclass(frozen=True, slots=True)
class Assignment:
    """A claimed attempt: what its `JobPorts` are made from."""

    config: WorkerConfig
    args: TaskArgs
    repo: str
    request: JobRequest
    #: The server's API with the token, the attempt's and the worker's headers.
    http: httpx.AsyncClient
    logs: LogStore
    #: Shared by the run's jobs on this worker; `scratch` is this attempt's alone and
    #: removed after it.
    run_root: Path
    scratch: Path


#: Makes an attempt's ports; `worker.remote.remote_ports` on a real worker.
PortsFactory = Callable[[Assignment], Awaitable[JobPorts]]


class ClaimUnreachable(Exception):
    """The server stayed unreachable while claiming: the task goes back to the queue."""


def run_attempt(
    args: TaskArgs, config: WorkerConfig, attempts: Attempts, ports: PortsFactory
) -> None:
    """The task: claim, run and report the attempt `args` (blocks until it is done)."""
    asyncio.run(_attempt(args, config, attempts, ports))


async def _attempt(
    args: TaskArgs, config: WorkerConfig, attempts: Attempts, ports: PortsFactory
) -> None:
    async with client.client(config.server, config.token, args.attempt, config.name) as http:
        try:
            claimed = await client.claim(http, args.attempt, config.name)
        except Stale as err:
            log.info("attempt %s: not queued any more (%s); task dropped", args.attempt, err)
            return
        except Refused as err:
            log.error(
                "attempt %s: the server refused the claim (%s); task dropped", args.attempt, err
            )
            return
        except TimeoutError as err:
            raise ClaimUnreachable(f"attempt {args.attempt}: {err}") from err
        log.info("attempt %s: claimed job %s of run %s", args.attempt, args.job_key, args.run_id)
        try:
            request = JobRequest.from_dict(claimed.request)
        except (KeyError, TypeError, ValueError) as err:  # a server of another version
            log.error("attempt %s: cannot read the job: %r", args.attempt, err)
            failed = JobResult(
                Conclusion.FAILURE, reason=f"worker {config.name} cannot read the job: {err!r}"
            )
            await _finish(http, args.attempt, config.name, 0, failed)
            return
        cancel = Cancel(asyncio.get_running_loop())
        stream = EventStream(http, args.attempt, config.name, cancel.set, on_cancel=cancel.set)
        attempts.add(args.attempt, Running(cancel, stream.stop))
        try:
            stream.start()
            run_root = config.cache_dir / "work" / f"run-{args.run_id}"
            scratch = config.cache_dir / "work" / f"attempt-{args.attempt}"
            job = Assignment(
                config, args, claimed.repo, request, http, RemoteLogs(stream), run_root, scratch
            )
            result = await _run(job, stream, cancel, ports)
            seq = await stream.close()
            if seq is None:
                log.warning(
                    "attempt %s: its result was not sent (stale or unreachable)", args.attempt
                )
                return
            await _finish(http, args.attempt, config.name, seq, result)
        finally:
            attempts.remove(args.attempt)


async def _run(
    job: Assignment, stream: EventStream, cancel: Cancel, ports: PortsFactory
) -> JobResult:
    """Run the job; a fault of the worker itself still ends it, as `failure`."""
    try:
        job.scratch.mkdir(parents=True, exist_ok=True)
        job.run_root.mkdir(parents=True, exist_ok=True)
        job_ports = await ports(job)
        result = await run_job(job.request, RemoteSink(stream), cancel, job_ports)
    except Exception as err:  # the job must end with a result whatever happened
        log.exception("attempt %s: the worker failed", job.args.attempt)
        return JobResult(Conclusion.FAILURE, reason=f"worker {job.config.name} failed: {err}")
    finally:
        await asyncio.to_thread(shutil.rmtree, job.scratch, True)
        with contextlib.suppress(OSError):
            job.run_root.rmdir()  # when the run's last job here is done
    if result.conclusion is Conclusion.CANCELLED and cancel.reason and not result.reason:
        result.reason = cancel.reason
    log.info("attempt %s: %s", job.args.attempt, result.conclusion.value)
    return result


async def _finish(
    http: httpx.AsyncClient, attempt: str, name: str, seq: int, result: JobResult
) -> None:
    try:
        await client.finish(http, attempt, name, seq, result.to_dict())
    except Stale as err:
        log.warning("attempt %s: the server refused its result as stale (%s)", attempt, err)
    except Refused as err:
        log.error("attempt %s: the server refused its result (%s)", attempt, err)
    except TimeoutError as err:
        log.error("attempt %s: its result could not be delivered (%s)", attempt, err)


__all__ = [
    "Assignment",
    "ClaimUnreachable",
    "PortsFactory",
    "WorkerConfig",
    "default_cache_dir",
    "default_name",
    "run_attempt",
]

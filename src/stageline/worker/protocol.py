"""What the team server and its workers agree on (ADR 0012): the Celery task, its
configuration, the agent API's paths, the timings, and the bodies that cross.

Imported by both sides: the server's dispatcher (`stageline.app.dispatch`) to send
tasks and answer, the worker (`stageline.worker`) to take them. Standard library and
Celery only, so the server never loads the worker and the worker never loads the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

#: The one task: its kwargs are `TaskArgs.to_dict()`.
TASK_NAME = "stageline.job"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
DEFAULT_QUEUE = "default"
#: `runs-on` labels that map to the default queue unless the server's map says
#: otherwise (fnmatch patterns).
DEFAULT_LABELS = ("ubuntu-*", "linux", "self-hosted")

#: A running attempt whose lease is not extended for this long is lost.
LEASE_S = 30.0
#: How often a worker calls the heartbeat route (it extends the leases of all its jobs,
#: and its reply carries cancellations: a cancel reaches a job within this, plus the
#: kill grace).
HEARTBEAT_S = 2.0
#: A worker not heard from for this long is not live (it serves no queue).
LIVE_S = 15.0
#: A worker sends a job's events when this many seconds passed or this many lines
#: are waiting, whichever comes first.
BATCH_S = 1.0
BATCH_LINES = 100

AGENT = "/api/v1/agent"
#: POST WorkerBeat → BeatReply. Registers the worker and extends its jobs' leases.
HEARTBEAT = AGENT + "/workers/{name}/heartbeat"
#: POST Claim → ClaimReply (200), or 409 when the attempt is not queued: drop the task.
CLAIM = AGENT + "/attempts/{attempt}/claim"
#: POST EventBatch → BatchReply (200), or 409 when the attempt is stale: stop the job.
EVENTS = AGENT + "/attempts/{attempt}/events"
#: POST Finish → 200, or 409 when the attempt is stale.
FINISH = AGENT + "/attempts/{attempt}/finish"
#: Files; every call carries the headers `ATTEMPT_HEADER` and `WORKER_HEADER`, and the
#: server admits it only for a `running` attempt of that worker and of that run (or that
#: repository, for the cache).
ARTIFACTS = AGENT + "/runs/{run_id}/artifacts"  # GET: names
ARTIFACT = AGENT + "/runs/{run_id}/artifacts/{name}"  # PUT tar.gz + meta / GET tar.gz
CACHE_LOOKUP = AGENT + "/cache/{repo}/lookup"  # POST {version, key, restore_keys}
CACHE_ENTRY = AGENT + "/cache/{repo}/entries"  # PUT ?version&key tar.gz / GET ?location
ACTION = AGENT + "/actions/{owner}/{name}/{ref}"  # GET: the cached action as tar.gz
#: Git's smart HTTP, read-only: `git fetch {server}/git/{repo}.git`.
GIT = "/git/{repo}.git"
ATTEMPT_HEADER = "X-Stageline-Attempt"
WORKER_HEADER = "X-Stageline-Worker"


def celery_app(broker: str = DEFAULT_BROKER) -> Celery:
    """The Celery app both sides use: no result backend (results go to the server's
    API, and secrets must never rest in a backend), late acks, a task rejected when its
    worker dies, one task prefetched at a time, JSON only."""
    from celery import Celery

    app = Celery("stageline", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=DEFAULT_QUEUE,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Redis re-delivers an unacked task after this; the lease in the store, not the
        # broker, decides what happened to the job, and a re-delivered task's claim is
        # refused. 12 h so that a long job is not re-delivered while it runs.
        broker_transport_options={"visibility_timeout": 43200},
    )
    return app


@dataclass(frozen=True, slots=True)
class TaskArgs:
    """The task's kwargs: the attempt to claim. No secret and no request crosses the
    broker: the worker gets the request from the server when it claims the attempt."""

    attempt: str
    run_id: int
    job_key: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskArgs:
        return cls(str(data["attempt"]), int(data["run_id"]), str(data["job_key"]))


@dataclass(slots=True)
class WorkerBeat:
    """A worker's heartbeat: who it is, what it serves, the attempts it runs now."""

    queues: list[str]
    concurrency: int
    hostname: str
    pid: int
    version: str
    attempts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class BeatReply:
    """`cancel`: attempt → reason, jobs to stop now; `stale`: attempts that are no
    longer this worker's (lost, re-sent, unknown): stop them and send nothing more."""

    cancel: dict[str, str] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Claim:
    worker: str


@dataclass(slots=True)
class ClaimReply:
    """`request`: `JobRequest.to_dict()` (secrets included, `local` None). `repo`: the
    registered repository's name (`GIT` and the cache routes take it)."""

    request: dict[str, Any]
    repo: str


@dataclass(slots=True)
class EventBatch:
    """Events of one attempt, in order. `seq` numbers batches from 1; the server applies
    a batch whose `seq` is not above the last it applied at most once (a batch re-sent
    after a timeout is acknowledged, not applied twice).

    Each event is `{"kind": ..., **fields}`, where kind and fields are those of
    `runner.contract.JobSink` and `runner.ports.LogFile`:
    ``step_started`` {index, name}; ``log`` {index, line}; ``write`` {index, text} (the
    step's log file; the server owns where logs live, so a worker names no path);
    ``step_finished`` {result: StepResult.to_dict()}; ``annotation`` {annotation};
    ``event`` {name, data}.
    """

    worker: str
    seq: int
    events: list[dict[str, Any]]


@dataclass(slots=True)
class BatchReply:
    applied: bool
    cancel: str | None = None


@dataclass(slots=True)
class Finish:
    """The attempt's result, sent after its last event batch (`seq`)."""

    worker: str
    seq: int
    result: dict[str, Any]


__all__ = [
    "ACTION",
    "AGENT",
    "ARTIFACT",
    "ARTIFACTS",
    "ATTEMPT_HEADER",
    "BATCH_LINES",
    "BATCH_S",
    "CACHE_ENTRY",
    "CACHE_LOOKUP",
    "CLAIM",
    "DEFAULT_BROKER",
    "DEFAULT_LABELS",
    "DEFAULT_QUEUE",
    "EVENTS",
    "FINISH",
    "GIT",
    "HEARTBEAT",
    "HEARTBEAT_S",
    "LEASE_S",
    "LIVE_S",
    "TASK_NAME",
    "WORKER_HEADER",
    "BatchReply",
    "BeatReply",
    "Claim",
    "ClaimReply",
    "EventBatch",
    "Finish",
    "TaskArgs",
    "WorkerBeat",
    "celery_app",
]

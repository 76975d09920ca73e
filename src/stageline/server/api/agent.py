"""The routes workers call (ADR 0012, rule `agent`: the worker role or admin):
heartbeat, claim, events and finish, answering the bodies of `worker.protocol`.

Each is the `app.dispatch.Dispatcher`'s method of that name. A call about an attempt
that is not the worker's `running` one is answered 409 (fencing): the worker drops
the task (claim) or stops the job (events, finish). One about an attempt a restarted
server has yet to adopt is answered 503, and the worker retries. A server that runs its jobs
itself (`--executor local`) answers 409 to every claim, so no worker runs them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from stageline.app.dispatch import Dispatcher, NotYet, StaleAttempt
from stageline.server.auth import Agent
from stageline.worker import protocol as p

router = APIRouter(tags=["agent"])

_Name = Annotated[str, Path(min_length=1, max_length=255, description="The worker's name.")]
_Attempt = Annotated[str, Path(min_length=1, max_length=36, description="The attempt's id.")]


def _dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher | None = getattr(request.app.state, "dispatcher", None)
    if dispatcher is None:
        raise HTTPException(
            409, "this server runs its jobs itself (serve --executor local): no job for workers"
        )
    return dispatcher


def _stale(err: StaleAttempt | NotYet) -> HTTPException:
    """409 for a stale attempt (fencing); 503 with `Retry-After` for one not adopted yet
    after a restart: the worker keeps its events and retries."""
    if isinstance(err, NotYet):
        return HTTPException(503, err.message, headers={"Retry-After": "1"})
    return HTTPException(409, err.message)


@router.post(p.HEARTBEAT, response_model=p.BeatReply)
def heartbeat(principal: Agent, request: Request, name: _Name, beat: p.WorkerBeat) -> p.BeatReply:
    """Register the worker, extend its jobs' leases; the jobs it must stop."""
    return _dispatcher(request).heartbeat(name, beat)


@router.post(p.CLAIM, response_model=p.ClaimReply)
def claim(principal: Agent, request: Request, attempt: _Attempt, body: p.Claim) -> p.ClaimReply:
    """Take a queued attempt (once): the job's request, secrets included."""
    try:
        return _dispatcher(request).claim(attempt, body.worker)
    except (StaleAttempt, NotYet) as err:
        raise _stale(err) from None


@router.post(p.EVENTS, response_model=p.BatchReply)
def events(
    principal: Agent, request: Request, attempt: _Attempt, batch: p.EventBatch
) -> p.BatchReply:
    """A batch of the job's events, applied once and in order."""
    try:
        return _dispatcher(request).events(attempt, batch)
    except (StaleAttempt, NotYet) as err:
        raise _stale(err) from None


@router.post(p.FINISH)
def finish(principal: Agent, request: Request, attempt: _Attempt, body: p.Finish) -> dict[str, str]:
    """The job's result; the job ends with it."""
    try:
        _dispatcher(request).finish(attempt, body)
    except (StaleAttempt, NotYet) as err:
        raise _stale(err) from None
    return {"status": "ok"}


__all__ = ["router"]

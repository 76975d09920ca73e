"""The team server's FastAPI app (ADR 0011): `create_app(ServerSettings)`.

The lifespan opens the data dir and store (`app.serverdata.open_server`), starts the
`RunHost` and lets it `recover` what a dead server left, starts the background
`SERVICES`, and only then serves: `GET /api/v1/health` answering 200 means ready. On
shutdown (uvicorn on SIGTERM) it stops the services, then the host (running runs are
cancelled and recorded; runs waiting at a gate stay waiting for the next start). With
workers (`--executor celery`) nothing is cancelled: the dispatcher detaches, and the
next start resumes the runs and adopts the jobs their workers still run (ADR 0012).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from stageline.app import schedule
from stageline.app.dispatch import Dispatcher, DispatchSettings
from stageline.app.host import RunHost
from stageline.app.serverdata import ServerData, default_data_dir, open_server
from stageline.server import auth, problems, web
from stageline.server.api import logs, root_routers, routers
from stageline.server.snapshots import RunSnapshots

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
OPENAPI_URL = f"{API_PREFIX}/openapi.json"
DOCS_URL = f"{API_PREFIX}/docs"

#: Background services the app runs while it serves (the schedule of `on.schedule`,
#: say): each is entered after recovery and left before the host shuts down.
Service = Callable[[ServerData, RunHost], AbstractContextManager[object]]
SERVICES: list[Service] = [schedule.running]


#: Jobs a run keeps in flight when workers run them (`--executor celery`): the workers'
#: slots bound what runs at once; the engine's default (2 x this machine's cores + 2)
#: would leave the workers idle while jobs wait on the server.
REMOTE_PARALLEL = 256


@dataclass(frozen=True, slots=True)
class ServerSettings:
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    #: Request bodies over this many bytes are answered 413.
    body_limit: int = problems.DEFAULT_BODY_LIMIT
    #: How long a login lasts (seconds).
    session_max_age: int = auth.SESSION_MAX_AGE_S
    #: `local`, or `celery`: every job goes to a worker through `dispatch` (ADR 0012).
    executor: str = "local"
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    parallel: int | None = None
    #: How long shutdown waits for cancelled runs to record their end (seconds).
    shutdown_timeout: float = 30.0


def create_app(settings: ServerSettings) -> FastAPI:
    """The app; its lifespan opens the store (see the module doc)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_server(settings.data_dir, settings.database_url) as server:
            dispatcher = None
            if settings.executor == "celery":
                dispatcher = Dispatcher(server, settings.dispatch)
                dispatcher.start()
            host = RunHost(
                server,
                executor=settings.executor,
                parallel=settings.parallel or (REMOTE_PARALLEL if dispatcher else None),
                dispatcher=dispatcher,
            )
            app.state.server = server
            app.state.host = host
            app.state.snapshots = RunSnapshots(server, max_age=logs.POLL_S)
            app.state.dispatcher = dispatcher
            recovered = await run_in_threadpool(host.recover)
            if recovered.reaped or recovered.resumed:
                log.info("recovered: reaped %s, resumed %s", recovered.reaped, recovered.resumed)
            with contextlib.ExitStack() as services:
                for service in SERVICES:
                    services.enter_context(service(server, host))
                try:
                    yield
                finally:
                    services.close()
                    if dispatcher is not None:  # its runs wait for the next start
                        await run_in_threadpool(dispatcher.detach)
                    await run_in_threadpool(host.shutdown, settings.shutdown_timeout)

    app = FastAPI(
        title="Stageline",
        version=_version(),
        lifespan=lifespan,
        openapi_url=OPENAPI_URL,
        docs_url=DOCS_URL,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.session_max_age = settings.session_max_age
    problems.install(app, settings.body_limit)
    auth.declare_public(app, OPENAPI_URL)
    auth.declare_public(app, DOCS_URL)
    app.add_api_route(
        f"{API_PREFIX}/health",
        health,
        methods=["GET"],
        dependencies=[Depends(auth.public)],
        tags=["server"],
    )
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    for router in root_routers:
        app.include_router(router)
    web.install(app)
    return app


def health() -> dict[str, str]:
    """200 once the server is ready (its lifespan finished starting)."""
    return {"status": "ok", "version": _version()}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stageline")
    except PackageNotFoundError:
        return "0"


__all__ = ["API_PREFIX", "SERVICES", "ServerSettings", "Service", "create_app"]

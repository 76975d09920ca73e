"""What a request handler reaches through `request.app.state`: the open data dir and
the run host and the shared run snapshots, set by `server.app`'s lifespan. Use as
FastAPI dependencies: `server: Server` (or `Depends(server_of)`), `host: Host`,
`snapshots: Snapshots`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from stageline.app.host import RunHost
from stageline.app.serverdata import ServerData
from stageline.server.snapshots import RunSnapshots


def server_of(request: Request) -> ServerData:
    server: ServerData = request.app.state.server
    return server


def host_of(request: Request) -> RunHost:
    host: RunHost = request.app.state.host
    return host


def snapshots_of(request: Request) -> RunSnapshots:
    snapshots: RunSnapshots = request.app.state.snapshots
    return snapshots


#: The largest id a record has (32-bit columns on both backends): bound every id a
#: request carries with it (`Path(ge=1, le=MAX_ID)`), or a huge one is a server error.
MAX_ID = 2**31 - 1

Server = Annotated[ServerData, Depends(server_of)]
Host = Annotated[RunHost, Depends(host_of)]
Snapshots = Annotated[RunSnapshots, Depends(snapshots_of)]

__all__ = ["MAX_ID", "Host", "Server", "Snapshots", "host_of", "server_of", "snapshots_of"]

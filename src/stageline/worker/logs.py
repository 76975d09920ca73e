"""The worker's `LogStore`: a step's log file is a stream of `write` events (ADR 0012).

The server owns where logs live: it appends each `write` to the step's file in its own
log directory and records that path, so the location named here is only a placeholder.
"""

from __future__ import annotations

from stageline.worker.client import EventStream


class RemoteLogs:
    """Step logs sent to the server through the attempt's event stream."""

    __slots__ = ("_stream",)

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream

    def open(self, key: str, index: int) -> RemoteLogFile:
        return RemoteLogFile(self._stream, key, index)


class RemoteLogFile:
    """One step's log; `size` is the UTF-8 bytes written, known after `close` (as for a
    local file); a late write after `close` is still sent."""

    __slots__ = ("_index", "_stream", "_written", "location", "size")

    def __init__(self, stream: EventStream, key: str, index: int) -> None:
        self._stream = stream
        self._index = index
        self._written = 0
        self.location = f"remote:{key}/{index}"
        self.size: int | None = None

    def write(self, text: str) -> None:
        self._written += len(text.encode("utf-8", "surrogateescape"))
        self._stream.add({"kind": "write", "index": self._index, "text": text})

    def close(self) -> None:
        if self.size is None:
            self.size = self._written


__all__ = ["RemoteLogFile", "RemoteLogs"]

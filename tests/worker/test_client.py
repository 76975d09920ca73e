"""The event stream against a real HTTP server: batches in order, each applied once,
kept through an outage, and a stale attempt stops its job."""

from __future__ import annotations

import asyncio
from pathlib import Path

from stageline.worker import client
from stageline.worker.client import EventStream
from stageline.worker.logs import RemoteLogs
from tests.worker.stub import AgentStub


def _log(i: int) -> dict[str, object]:
    return {"kind": "log", "index": 0, "line": f"line {i}"}


def test_events_sent_while_the_server_is_down_arrive_after_it_is_back() -> None:
    stub = AgentStub()
    stub.start()
    stopped: list[str] = []

    async def main() -> int | None:
        async with client.client(stub.url, stub.token, "a1") as http:
            stream = EventStream(http, "a1", "w1", stopped.append, batch_s=0.05)
            stream.start()
            for i in range(3):
                stream.add(_log(i))
            while not stub.of("events"):
                await asyncio.sleep(0.02)
            stub.stop()
            for i in range(3, 250):  # more than one batch's worth of lines
                stream.add(_log(i))
            await asyncio.sleep(1.0)  # several failed attempts to send
            stub.start()  # the same port
            return await stream.close(within=60)

    try:
        seq = asyncio.run(main())
    finally:
        stub.stop()
    assert stopped == []
    assert [e["line"] for e in stub.events("a1")] == [f"line {i}" for i in range(250)]
    seqs = [c.body["seq"] for c in stub.of("events", "a1")]
    assert seqs == sorted(seqs) and seqs[0] == 1 and seq == seqs[-1]
    assert all(c.body["worker"] == "w1" for c in stub.of("events"))


def test_a_full_buffer_drops_lines_but_keeps_step_events_and_says_so() -> None:
    stub = AgentStub()
    stub.start()

    async def main() -> None:
        async with client.client(stub.url, stub.token, "a2") as http:
            stream = EventStream(http, "a2", "w1", print, batch_s=3600, max_bytes=40)
            stream.add({"kind": "step_started", "index": 0, "name": "Run x"})
            for i in range(10):
                stream.add(_log(i))  # 6 characters each: 6 fit
            stream.add({"kind": "step_finished", "result": {"index": 0}})
            stream.start()
            assert await stream.close(within=30) == 2  # the note comes once there is room

    try:
        asyncio.run(main())
    finally:
        stub.stop()
    events = stub.events("a2")
    assert [e["kind"] for e in events] == ["step_started"] + ["log"] * 6 + [
        "step_finished",
        "log",
        "write",
    ]
    assert events[-2]["line"].startswith("[stageline] 4 lines of this job's output were dropped")


def test_a_stale_attempt_stops_its_job_and_sends_nothing_more() -> None:
    stub = AgentStub(stale={"a3"})
    stub.start()
    stopped: list[str] = []

    async def main() -> int | None:
        async with client.client(stub.url, stub.token, "a3") as http:
            stream = EventStream(http, "a3", "w1", stopped.append, batch_s=0.05)
            stream.start()
            stream.add(_log(0))
            while not stopped:
                await asyncio.sleep(0.02)
            stream.add(_log(1))
            return await stream.close(within=30)

    try:
        assert asyncio.run(main()) is None
    finally:
        stub.stop()
    assert len(stopped) == 1 and "stale" in stopped[0]
    assert len(stub.of("events", "a3")) == 1


def test_a_step_log_is_write_events_and_its_size_is_known_once_closed(tmp_path: Path) -> None:
    stub = AgentStub()
    stub.start()

    async def main() -> tuple[int | None, int | None, str]:
        async with client.client(stub.url, stub.token, "a4") as http:
            stream = EventStream(http, "a4", "w1", print, batch_s=0.05)
            stream.start()
            log = RemoteLogs(stream).open("build", 2)
            log.write("héllo\n")
            log.write("world\n")
            before = log.size
            log.close()
            await stream.close(within=30)
            return before, log.size, log.location

    try:
        before, size, location = asyncio.run(main())
    finally:
        stub.stop()
    assert (before, size, location) == (None, len("héllo\nworld\n".encode()), "remote:build/2")
    # consecutive writes of a step travel as one event
    assert stub.events("a4") == [{"kind": "write", "index": 2, "text": "héllo\nworld\n"}]

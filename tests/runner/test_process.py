import asyncio
import os
import time
from pathlib import Path

import pytest

from stageline.runner.process import MAX_LINE, ProcessGroups, ProcessOutcome, run_process


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


async def _run(
    script: str, tmp: Path, *, deadline: float | None = None, cancel_after: float | None = None
) -> tuple[ProcessOutcome, list[str], list[str], ProcessGroups]:
    lines: list[str] = []
    late: list[str] = []
    groups = ProcessGroups(kill_grace=1.0)
    cancel = asyncio.Event()
    if cancel_after is not None:
        asyncio.get_running_loop().call_later(cancel_after, cancel.set)
    loop = asyncio.get_running_loop()
    outcome = await run_process(
        ["bash", "-c", script],
        cwd=str(tmp),
        env={"PATH": os.environ["PATH"]},
        on_line=lambda text, more: lines.append(text),
        on_late_line=lambda text, more: late.append(text),
        groups=groups,
        cancel=cancel,
        deadline=None if deadline is None else loop.time() + deadline,
    )
    return outcome, lines, late, groups


def test_lines_exit_code_and_unterminated_last_line(tmp_path: Path) -> None:
    outcome, lines, _, _ = asyncio.run(
        _run("echo one; echo two >&2; printf three; exit 4", tmp_path)
    )
    assert outcome.exit_code == 4 and not outcome.timed_out
    assert lines == ["one", "two", "three"]


def test_without_pidfds_a_thread_learns_the_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pidfd(pid: int) -> int:
        raise OSError("pidfd_open: not supported here")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    outcome, lines, _, _ = asyncio.run(_run("echo one; exit 5", tmp_path))
    assert (outcome.exit_code, lines) == (5, ["one"])
    outcome, _, _, groups = asyncio.run(_run("sleep 30", tmp_path, deadline=0.3))
    assert outcome.timed_out and not any(alive(pgid) for pgid in groups.groups)


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    outcome, lines, _, _ = asyncio.run(_run("printf 'a\\xffb\\n\\xff\\n'", tmp_path))
    assert outcome.exit_code == 0
    assert lines == ["a\ufffdb", "\ufffd"]


async def _pieces(script: str, tmp: Path) -> list[tuple[str, bool]]:
    pieces: list[tuple[str, bool]] = []
    outcome = await run_process(
        ["bash", "-c", script],
        cwd=str(tmp),
        env={"PATH": os.environ["PATH"]},
        on_line=lambda text, more: pieces.append((text, more)),
        on_late_line=lambda text, more: pieces.append((text, more)),
        groups=ProcessGroups(kill_grace=1.0),
        cancel=asyncio.Event(),
        deadline=None,
    )
    assert outcome.exit_code == 0
    return pieces


def test_a_long_line_comes_in_pieces_of_at_most_64_kib_and_loses_no_byte(
    tmp_path: Path,
) -> None:
    pieces = asyncio.run(
        _pieces("head -c 200000 /dev/zero | tr '\\0' x; echo; echo next", tmp_path)
    )
    assert [len(text) for text, _ in pieces] == [MAX_LINE, MAX_LINE, MAX_LINE, 3392, 4]
    assert [more for _, more in pieces] == [True, True, True, False, False]
    assert "".join(text for text, _ in pieces[:4]) == "x" * 200000


def test_pieces_are_cut_between_utf8_characters_and_keep_crlf_together(tmp_path: Path) -> None:
    # 3-byte characters after one ASCII byte: byte 65,536 falls inside a character.
    # Then a line whose CR sits at the cut: the CRLF still ends the line.
    script = (
        "printf 'a'; for i in $(seq 30000); do printf '\\xe2\\x82\\xac'; done; echo;"
        "head -c 65535 /dev/zero | tr '\\0' y; printf '\\r\\nz\\r\\n'"
    )
    pieces = asyncio.run(_pieces(script, tmp_path))
    first = [text for text, _ in pieces[:-2]]
    assert "\ufffd" not in "".join(first)
    assert "".join(first) == "a" + "\u20ac" * 30000
    assert all(len(text.encode()) <= MAX_LINE for text in first)
    assert pieces[-2:] == [("y" * 65535, False), ("z", False)]


def test_deadline_kills_the_whole_tree(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 30 & echo $! > {pidfile}; sleep 30"

    async def go() -> ProcessOutcome:
        outcome, *_ = await _run(script, tmp_path, deadline=0.5)
        return outcome

    outcome = asyncio.run(go())
    assert outcome.timed_out and not outcome.cancelled
    child = int(pidfile.read_text())
    for _ in range(100):
        if not alive(child):
            break
        time.sleep(0.02)
    assert not alive(child)


def test_cancel_kills_promptly(tmp_path: Path) -> None:
    outcome, *_ = asyncio.run(_run("sleep 30", tmp_path, cancel_after=0.2))
    assert outcome.cancelled and outcome.exit_code is not None and outcome.exit_code < 0


def test_sigterm_ignoring_process_gets_sigkill(tmp_path: Path) -> None:
    outcome, *_ = asyncio.run(_run("trap '' TERM; sleep 30 & wait", tmp_path, deadline=0.3))
    assert outcome.timed_out


def test_background_child_does_not_hold_the_step(tmp_path: Path) -> None:
    pidfile = tmp_path / "bg.pid"

    async def go() -> tuple[ProcessOutcome, list[str], int]:
        outcome, lines, late, groups = await _run(
            f"(sleep 0.4; echo late) & echo $! > {pidfile}; echo now", tmp_path
        )
        await asyncio.sleep(0.8)
        pid = int(pidfile.read_text())
        await groups.kill_all()
        return outcome, [*lines, "|", *late], pid

    outcome, lines, pid = asyncio.run(go())
    assert outcome.exit_code == 0
    assert lines == ["now", "|", "late"]
    assert not alive(pid)


def test_missing_program_is_an_outcome_not_an_exception(tmp_path: Path) -> None:
    async def go() -> ProcessOutcome:
        return await run_process(
            [str(tmp_path / "nope")],
            cwd=str(tmp_path),
            env={},
            on_line=lambda text, more: print(text),
            on_late_line=print,
            groups=ProcessGroups(),
            cancel=asyncio.Event(),
            deadline=None,
        )

    outcome = asyncio.run(go())
    assert outcome.error is not None and "nope" in outcome.error


def test_children_are_watched_without_threads_by_any_event_loop(tmp_path: Path) -> None:
    """The step's exit is learnt through a pidfd (no waiter thread per process), and a
    later event loop (a new `asyncio.run`) can still start and wait for children."""
    import threading

    async def step() -> tuple[int | None, int]:
        before = threading.active_count()
        running = asyncio.ensure_future(_run("sleep 0.3; echo hi; exit 3", tmp_path))
        await asyncio.sleep(0.15)
        during = threading.active_count() - before
        outcome, lines, _, groups = await running
        await groups.kill_all()
        assert lines == ["hi"]
        return outcome.exit_code, during

    async def plain() -> int:
        process = await asyncio.create_subprocess_exec("sh", "-c", "exit 5")
        return await process.wait()

    code, extra_threads = asyncio.run(step())
    assert code == 3
    if hasattr(os, "pidfd_open"):
        assert extra_threads == 0
    assert asyncio.run(plain()) == 5
    assert asyncio.run(step())[0] == 3


def test_a_long_line_whose_end_comes_in_one_read_is_still_cut() -> None:
    """The pipe may hand over more than a piece and the newline at once (under load)."""
    from stageline.runner.process import _read_lines

    async def pieces() -> list[tuple[int, bool]]:
        stream = asyncio.StreamReader(limit=1 << 20)
        stream.feed_data(b"x" * (MAX_LINE + 3392) + b"\nnext\n")
        stream.feed_eof()
        got: list[tuple[int, bool]] = []
        await _read_lines(stream, lambda text, more: got.append((len(text), more)))
        return got

    assert asyncio.run(pieces()) == [(MAX_LINE, True), (3392, False), (4, False)]

"""Reading runs, a run and its logs through the services."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.app import context, reads, runs
from stageline.engine.setup import RunOptions
from stageline.errors import RunError


def test_nothing_to_read_before_a_run(repo: Path) -> None:
    with pytest.raises(context.NoRecordError):
        reads.runs(repo)


def test_runs_run_and_logs(repo: Path) -> None:
    for _ in range(2):
        assert runs.start(runs.prepare(RunOptions(cwd=repo))).exit_code == 0
    listed = reads.runs(repo, limit=1)
    assert [(r.id, r.number, r.conclusion) for r in listed] == [(2, 2, "success")]
    detail = reads.run(repo, 1)
    assert [j.key for j in detail.jobs] == ["build", "test"]
    chunks = list(reads.logs(repo, 1))
    assert [(c.job, c.first) for c in chunks] == [("build", True), ("test", True)]
    assert chunks[1].lines[-1].endswith("tested")
    with pytest.raises(RunError, match="run 1 has no job 'nope'") as err:
        list(reads.logs(repo, 1, "nope"))
    assert err.value.hint == "jobs: build, test"


def test_runs_in_pages_through_an_open_store(repo: Path) -> None:
    for _ in range(3):
        assert runs.start(runs.prepare(RunOptions(cwd=repo))).exit_code == 0
    with context.open(repo) as ctx:
        first = reads.runs_in(ctx.store, limit=2)
        assert [r.id for r in first.runs] == [3, 2]
        assert first.next_cursor is not None
        last = reads.runs_in(ctx.store, limit=2, cursor=first.next_cursor)
        assert ([r.id for r in last.runs], last.next_cursor) == ([1], None)
        assert reads.runs_in(ctx.store, reads.RunFilter(branch="nope")).runs == []
        assert len(reads.runs_in(ctx.store, reads.RunFilter(status="success")).runs) == 3
        with pytest.raises(RunError, match="not a cursor"):
            reads.runs_in(ctx.store, cursor="abc")


def test_a_job_log_is_one_byte_stream_read_in_ranges(repo: Path) -> None:
    assert runs.start(runs.prepare(RunOptions(cwd=repo))).exit_code == 0
    with context.open(repo) as ctx:
        log = reads.job_log_in(ctx.store, 1, "build")
        whole = log.read()
        assert log.complete and log.size == len(whole)
        assert whole.startswith(b"== ") and b"building it\n" in whole
        assert log.read(3, 10) == whole[3:10]
        assert log.read(len(whole) - 4) == whole[-4:]
        assert log.read(len(whole)) == b""
        with pytest.raises(RunError, match="no job 'nope'"):
            reads.job_log_in(ctx.store, 1, "nope")


def test_every_range_of_a_job_log_reads_the_stream_it_describes(tmp_path: Path) -> None:
    """Ranges are read from the files' offsets; each equals the slice of the whole
    stream (headers, a finished step's missing newline added, a running step as is)."""
    files = {"one": b"a\nbb\n", "two": b"no newline", "three": b"", "four": b"half lin"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    parts = [(f"== j / {name} ==\n".encode(), tmp_path / name, name != "four") for name in files]
    parts.append((b"== j / gone ==\n", tmp_path / "missing", True))
    log = reads.JobLog("j", parts, False, None)
    whole = b"".join(
        [
            b"== j / one ==\na\nbb\n",
            b"== j / two ==\nno newline\n",
            b"== j / three ==\n",
            b"== j / four ==\nhalf lin",
            b"== j / gone ==\n",
        ]
    )
    assert log.size == len(whole) and log.read() == whole
    for start in range(len(whole) + 2):
        assert log.read(start) == whole[start:]
        for end in range(start, len(whole) + 2):
            assert log.read(start, end) == whole[start:end], (start, end)

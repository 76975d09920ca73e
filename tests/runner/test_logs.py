import asyncio
import os
from pathlib import Path

import pytest

from stageline.runner.logs import NullLog, StepLog
from stageline.runner.masking import Masker
from stageline.runner.places import LogFile
from stageline.runner.process import MAX_LINE, ProcessGroups, run_process
from tests.runner.helpers import RecordingSink


def test_lines_are_masked_then_appended_and_sent(tmp_path: Path) -> None:
    sink = RecordingSink()
    path = tmp_path / "job/0.log"
    log = StepLog(LogFile(str(path)), 0, sink, Masker(["pw"]))
    log.write("the pw is here")
    assert path.read_text() == "the *** is here\n"  # on disk before the step ends
    log.write("two\nlines")
    log.late("background pw")
    log.close()
    log.late("after the step: pw")
    assert path.read_text().splitlines() == [
        "the *** is here",
        "two",
        "lines",
        "background ***",
        "after the step: ***",
    ]
    assert sink.lines(0) == ["the *** is here", "two", "lines"]


def test_log_is_append_only_and_its_size_known_once_closed(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    path.write_text("earlier\n")
    log = StepLog(LogFile(str(path)), 1, RecordingSink(), Masker())
    assert (log.path, log.size) == (str(path), None)
    log.write("later")
    log.close()
    log.close()  # harmless twice
    assert path.read_text() == "earlier\nlater\n"
    assert log.size == path.stat().st_size


def test_null_log_writes_nothing() -> None:
    NullLog().write("dropped")  # no file, no sink: nothing to observe but no error
    assert (NullLog().path, NullLog().size) == ("", None)


def _log_output(script: str, path: Path, masker: Masker) -> RecordingSink:
    """A real process's output through `run_process` into a `StepLog`, as a step does."""
    sink = RecordingSink()
    log = StepLog(LogFile(str(path)), 0, sink, masker)
    outcome = asyncio.run(
        run_process(
            ["bash", "-c", script],
            cwd=str(path.parent),
            env={"PATH": os.environ["PATH"]},
            on_line=lambda text, more: log.write(text, more=more),
            on_late_line=log.late,
            groups=ProcessGroups(kill_grace=1.0),
            cancel=asyncio.Event(),
            deadline=None,
        )
    )
    log.close()
    assert outcome.exit_code == 0
    return sink


@pytest.mark.parametrize("before", [MAX_LINE - 5, MAX_LINE - 1, 2 * MAX_LINE - 3])
def test_a_secret_cut_by_the_split_of_a_long_line_is_still_masked(
    tmp_path: Path, before: int
) -> None:
    secret = "s3cr3t-t0ken-value"
    script = f"head -c {before} /dev/zero | tr '\\0' x; printf '{secret}tail'; echo; echo end"
    path = tmp_path / "0.log"
    sink = _log_output(script, path, Masker([secret]))
    written = path.read_text()
    assert secret[:6] not in written and secret[-6:] not in written
    lines = written.splitlines()
    assert lines[-1] == "end"
    assert "".join(lines[:-1]) == "x" * before + "***tail"  # every byte, in order
    # A piece may carry the start of a possible secret from the one before.
    assert all(len(line) <= MAX_LINE + 2 * len(secret) for line in lines)
    assert sink.lines(0) == lines


def test_every_byte_of_a_long_line_without_secrets_reaches_the_log(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    _log_output("seq 1 100000 | tr -d '\\n'; echo", path, Masker(["unseen"]))
    expected = "".join(str(n) for n in range(1, 100001))
    lines = path.read_text().splitlines()
    assert len(lines) > 1
    assert "".join(lines) == expected

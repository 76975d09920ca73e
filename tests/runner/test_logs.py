from pathlib import Path

from stageline.runner.logs import NullLog, StepLog
from stageline.runner.masking import Masker
from tests.runner.helpers import RecordingSink


def test_lines_are_masked_then_appended_and_sent(tmp_path: Path) -> None:
    sink = RecordingSink()
    path = tmp_path / "job/0.log"
    log = StepLog(str(path), 0, sink, Masker(["pw"]))
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


def test_log_is_append_only(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    path.write_text("earlier\n")
    log = StepLog(str(path), 1, RecordingSink(), Masker())
    log.write("later")
    log.close()
    assert path.read_text() == "earlier\nlater\n"


def test_null_log_writes_nothing() -> None:
    NullLog().write("dropped")  # no file, no sink: nothing to observe but no error
    assert NullLog().path == ""

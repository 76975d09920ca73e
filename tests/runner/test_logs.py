from pathlib import Path

from stageline.runner.logs import NullLog, StepLog
from stageline.runner.masking import Masker
from stageline.runner.places import LogFile
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

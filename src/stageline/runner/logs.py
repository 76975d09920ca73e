"""Step logs: lines masked, then appended to the step's `LogFile` and sent to the sink.

Masking happens here, *before* a line reaches the log store or the sink, whatever the
store is (a file on this machine, a stream to a server).
"""

from __future__ import annotations

from stageline.runner.contract import JobSink
from stageline.runner.masking import Masker
from stageline.runner.ports import LogFile


class StepLog:
    def __init__(self, file: LogFile, index: int, sink: JobSink, masker: Masker) -> None:
        self.file: LogFile | None = file
        self.index = index
        self._sink = sink
        self._masker = masker
        self._open = True

    @property
    def path(self) -> str:
        """Where the log is, as its store names it."""
        return self.file.location if self.file is not None else ""

    @property
    def size(self) -> int | None:
        return self.file.size if self.file is not None else None

    def write(self, line: str, *, to_sink: bool = True) -> None:
        """Mask and record one line (without its newline); multi-line text is split."""
        for part in self._masker.mask(line).split("\n"):
            if self.file is not None:
                self.file.write(part + "\n")
            if to_sink:
                self._sink.log(self.index, part)

    def late(self, line: str) -> None:
        """Output of a background process after its step ended: appended to the log,
        not sent to the sink."""
        self.write(line, to_sink=False)

    def close(self) -> None:
        if self.file is not None and self._open:
            self._open = False
            self.file.close()


class NullLog(StepLog):
    """The log of what is not a step (job setup, expression probes): lines are dropped;
    errors there still become annotations."""

    def __init__(self) -> None:
        self.file = None
        self.index = -1
        self._open = False

    def write(self, line: str, *, to_sink: bool = True) -> None:
        pass

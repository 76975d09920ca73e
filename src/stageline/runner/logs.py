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
        self._carry = ""  # the unmasked tail of a long line that goes on

    @property
    def path(self) -> str:
        """Where the log is, as its store names it."""
        return self.file.location if self.file is not None else ""

    @property
    def size(self) -> int | None:
        return self.file.size if self.file is not None else None

    def write(self, line: str, *, to_sink: bool = True, more: bool = False) -> None:
        """Mask and record one line (without its newline); multi-line text is split.

        `more`: `line` is a piece of a long line that goes on (`process.MAX_LINE`). It is
        recorded as a line of its own, but masked as part of the whole line, so a secret
        cut in two by the split is still masked (its start waits for the next piece)."""
        text = self._carry + line
        if more:
            masked, self._carry = self._masker.mask_head(text)
            if not masked:
                return
        else:
            masked, self._carry = self._masker.mask(text), ""
        for part in masked.split("\n"):
            if self.file is not None:
                self.file.write(part + "\n")
            if to_sink:
                self._sink.log(self.index, part)

    def late(self, line: str, more: bool = False) -> None:
        """Output of a background process after its step ended: appended to the log,
        not sent to the sink."""
        self.write(line, to_sink=False, more=more)

    def close(self) -> None:
        if self._carry:  # a long line cut off mid-piece: its tail is kept too
            self.write("", to_sink=False)
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

    def write(self, line: str, *, to_sink: bool = True, more: bool = False) -> None:
        pass

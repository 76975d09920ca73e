"""Step logs: one append-only file per step, written line by line as output arrives.

Lines are masked *before* they are written or handed to the sink; the file is line
buffered, so `stageline logs --follow` sees each line as soon as it is produced.
"""

from __future__ import annotations

import os
from typing import TextIO

from stageline.runner.contract import JobSink
from stageline.runner.masking import Masker


class StepLog:
    def __init__(self, path: str, index: int, sink: JobSink, masker: Masker) -> None:
        self.path = path
        self.index = index
        self._sink = sink
        self._masker = masker
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._file: TextIO | None = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def write(self, line: str, *, to_sink: bool = True) -> None:
        """Mask and record one line (without its newline); multi-line text is split."""
        for part in self._masker.mask(line).split("\n"):
            if self._file is not None:
                self._file.write(part + "\n")
            if to_sink:
                self._sink.log(self.index, part)

    def late(self, line: str) -> None:
        """Output of a background process after its step ended: appended to the file
        (reopened for the line: late output is rare), not sent to the sink."""
        if self._file is not None:
            self.write(line, to_sink=False)
            return
        with open(self.path, "a", encoding="utf-8") as f:
            for part in self._masker.mask(line).split("\n"):
                f.write(part + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class NullLog(StepLog):
    """The log of what is not a step (job setup, expression probes): lines are dropped;
    errors there still become annotations."""

    def __init__(self) -> None:
        self.path = ""
        self.index = -1
        self._file = None

    def write(self, line: str, *, to_sink: bool = True) -> None:
        pass

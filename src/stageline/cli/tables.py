"""Printing record tables: wrapped to the terminal on a TTY, whole lines elsewhere.

Off a terminal Rich assumes 80 columns and wraps every cell, which makes piped
output (and `grep`) useless; there a row stays on one line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table


def record_console(*, highlight: bool = True) -> Console:
    """A console for records: the terminal's width on a TTY, unbounded elsewhere."""
    width = None if sys.stdout.isatty() else 10_000
    return Console(soft_wrap=True, width=width, highlight=highlight)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    record_console().print(table)

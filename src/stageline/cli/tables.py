"""Printing record tables: wrapped to the terminal on a TTY, whole lines elsewhere.

Off a terminal Rich assumes 80 columns and wraps every cell, which makes piped
output (and `grep`) useless; there a row stays on one line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    width = None if sys.stdout.isatty() else 10_000
    Console(soft_wrap=True, width=width).print(table)

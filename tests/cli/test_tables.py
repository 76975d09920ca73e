from __future__ import annotations

import pytest

from stageline.cli.tables import print_table


def test_off_a_terminal_a_row_stays_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    note = "rollback: restores #1 in place of #3 after check 'health' failed twice on staging"
    print_table(("ID", "ENV", "NOTE"), [["4", "staging", note]])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[1].rstrip().split(None, 2) == ["4", "staging", note]

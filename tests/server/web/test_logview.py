"""Step logs on the run page: groups fold, annotations are marked, text stays escaped."""

from __future__ import annotations

from stageline.server.web.logview import Group, Line, blocks


def test_groups_fold_their_lines() -> None:
    out = blocks(["before", "##[group]Install", "a", "b", "##[endgroup]", "after"])
    assert [type(b) for b in out] == [Line, Group, Line]
    group = out[1]
    assert isinstance(group, Group)
    assert group.title == "Install" and group.closed and group.number == 2
    assert [(line.number, str(line.html)) for line in group.lines] == [(3, "a"), (4, "b")]
    assert out[2] == Line(6, "after")


def test_raw_commands_fold_too_and_a_new_group_closes_the_old() -> None:
    out = blocks(["::group::one", "x", "::group::two", "y"])
    assert [g.title for g in out if isinstance(g, Group)] == ["one", "two"]
    assert all(isinstance(g, Group) and len(g.lines) == 1 for g in out)
    last = out[-1]
    assert isinstance(last, Group) and not last.closed


def test_annotations_keep_their_level_and_colours() -> None:
    out = blocks(["##[error]\x1b[31mboom\x1b[0m <x>", "::warning file=a.py,line=3::careful"])
    assert out == [
        Line(1, '<span class="fg-1">boom</span> &lt;x&gt;', "error"),  # type: ignore[arg-type]
        Line(2, "careful", "warning"),  # type: ignore[arg-type]
    ]


def test_unknown_markers_and_stray_endgroup_are_plain() -> None:
    out = blocks(["##[endgroup]", "##[section]x", "::notacommand"], first=10)
    assert out == [Line(11, "##[section]x"), Line(12, "::notacommand")]  # type: ignore[arg-type]

"""Local actions stay inside the repository: as written, and after symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stageline.workflow.localuses import escape, is_local
from tests.workflow.support import at, errors_of, load, one, where


@pytest.mark.parametrize(
    "uses", ["./../../../../../tmp/x", "./a/../../b", "$/../x", "./..", "$//etc/x"]
)
def test_a_path_that_climbs_out_as_written_escapes(uses: str) -> None:
    assert is_local(uses)
    assert escape(uses) == f"the local action '{uses}' is outside the repository"


@pytest.mark.parametrize("uses", ["./.github/actions/build", "./a/../b", "$/tools/x", "."])
def test_a_path_inside_does_not(uses: str, tmp_path: Path) -> None:
    assert escape(uses) is None
    assert escape(uses, str(tmp_path)) is None


def test_a_symlink_out_of_the_repository_escapes(tmp_path: Path) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    (repo / "actions").mkdir(parents=True)
    outside.mkdir()
    os.symlink(outside, repo / "actions" / "evil")
    os.symlink(repo / "actions", repo / "inner")  # a symlink that stays inside is fine
    problem = escape("./actions/evil", str(repo))
    assert problem == (
        f"the local action './actions/evil' resolves outside the repository (to {outside})"
    )
    assert escape("./inner", str(repo)) is None


def test_validate_reports_an_escaping_local_action_at_its_position() -> None:
    text = (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: ./../../../../../tmp/x\n"
    )
    diagnostic = one(errors_of(text), "outside the repository")
    assert at(diagnostic) == where(text, "./../../")
    assert diagnostic.hint is not None and "./path/to/action" in diagnostic.hint


def test_validate_follows_symlinks_of_the_repository_on_disk(tmp_path: Path) -> None:
    workflows = tmp_path / "repo" / ".github" / "workflows"
    workflows.mkdir(parents=True)
    os.symlink("/tmp", tmp_path / "repo" / "shared")
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: ./shared/x\n"
    diagnostic = one(errors_of(text, str(workflows / "ci.yml")), "resolves outside")
    assert at(diagnostic) == where(text, "./shared/x")
    assert load(text).jobs["a"].steps[0].uses == "./shared/x"  # no repository on disk

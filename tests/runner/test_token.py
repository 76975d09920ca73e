"""Stageline issues no GitHub token: `secrets.GITHUB_TOKEN` is the empty string, with one
warning the first time a job reads it, unless the user passes `-s GITHUB_TOKEN=...`."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.runner.token import WARNING, reads_token
from tests.runner.helpers import job, make_repo, request, run, step


@pytest.mark.parametrize(
    "text",
    [
        "${{ secrets.GITHUB_TOKEN }}",
        "${{ secrets.github_token }}",
        "${{ secrets[ 'GITHUB_TOKEN' ] }}",
        "x ${{ format('{0}', secrets . GITHUB_TOKEN) }}",
    ],
)
def test_references_to_the_token_are_found(text: str) -> None:
    assert reads_token(text)


@pytest.mark.parametrize("text", ["$GITHUB_TOKEN", "${{ secrets.GITHUB_TOKENS }}", "", None])
def test_look_alikes_are_not(text: str | None) -> None:
    assert not reads_token(text)


def token_job() -> object:
    return job(
        step(0, 'echo "[$T]"', env={"T": "${{ secrets.GITHUB_TOKEN }}"}),
        step(1, "echo '[${{ secrets.GITHUB_TOKEN }}] [${{ github.token }}]'"),
        step(2, "echo '${{ toJSON(secrets) }}'"),
    )


def test_without_a_token_it_is_empty_with_one_warning(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    result, sink = run(request(tmp_path, repo, token_job()))  # type: ignore[arg-type]
    assert sink.lines(0)[-1] == "[]"
    assert sink.lines(1)[-1] == "[] []"
    assert '"GITHUB_TOKEN": ""' in "\n".join(sink.lines(2))
    warnings = [a for a in result.annotations if a.message == WARNING]
    assert len(warnings) == 1 and warnings[0].step_index == 0
    assert f"##[warning]{WARNING}" in sink.lines(0)


def test_a_token_given_with_s_is_used_and_is_github_token_too(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    given = request(tmp_path, repo, token_job(), secrets={"GITHUB_TOKEN": "ghp_given"})  # type: ignore[arg-type]
    result, sink = run(given)
    assert sink.lines(0)[-1] == "[***]"
    assert sink.lines(1)[-1] == "[***] [***]"
    assert not [a for a in result.annotations if a.message == WARNING]

"""actions/cache: key matching as GitHub's cache documentation describes it."""

from pathlib import Path
from typing import Any

from stageline.plan.model import PlannedStep
from stageline.runs.states import Conclusion
from tests.runner.helpers import job, make_repo, request, run, step


def cache_step(
    index: int, key: str, restore_keys: str = "", path: str = "deps", **extra: Any
) -> PlannedStep:
    with_ = {"path": path, "key": key}
    if restore_keys:
        with_["restore-keys"] = restore_keys
    return step(index, uses="actions/cache@v4", with_=with_, id="cache", **extra)


def test_miss_then_save_in_post_step_then_exact_hit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"package-lock.json": "{}"})
    key = "npm-${{ hashFiles('**/package-lock.json') }}"
    first = job(
        cache_step(0, key),
        step(
            1, "echo hit=${{ steps.cache.outputs.cache-hit }}; mkdir -p deps; echo built > deps/lib"
        ),
    )
    result, sink = run(request(tmp_path, repo, first))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    assert sink.lines(1)[1] == "hit=false"
    assert [s.name for s in result.steps] == [
        "Run actions/cache@v4",
        "Run echo hit=${{ steps.cache.outputs.cache-hit }}; mkdir -p deps; echo built > deps/lib",
        "Post Run actions/cache@v4",
    ]
    assert result.steps[2].conclusion == Conclusion.SUCCESS and result.steps[2].index == 2

    second = job(
        cache_step(0, key), step(1, "echo hit=${{ steps.cache.outputs.cache-hit }}; cat deps/lib")
    )
    result, sink = run(request(tmp_path, repo, second))
    assert sink.lines(1)[1:] == ["hit=true", "built"]
    assert len(result.steps) == 2  # exact hit: no save step


def test_partial_hit_restores_but_reports_false_and_saves(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    run(
        request(
            tmp_path, repo, job(cache_step(0, "deps-v1"), step(1, "mkdir deps; echo one > deps/f"))
        )
    )
    planned = job(
        cache_step(0, "deps-v2", restore_keys="deps-"),
        step(
            1,
            "echo ${{ steps.cache.outputs.cache-hit }} "
            "${{ steps.cache.outputs.cache-matched-key }}; cat deps/f",
        ),
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert sink.lines(1)[1:] == ["false deps-v1", "one"]
    assert result.steps[-1].name.startswith("Post")


def test_no_save_when_the_job_failed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(cache_step(0, "k"), step(1, "mkdir deps; touch deps/f; exit 1"))
    result, _ = run(request(tmp_path, repo, planned))
    assert result.steps[-1].conclusion == Conclusion.SKIPPED
    assert not list((tmp_path / "cache").glob("*/entry.json"))


def test_invalid_key_and_fail_on_cache_miss(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        cache_step(0, "a,b", continue_on_error=True),
        step(
            1,
            uses="actions/cache/restore@v4",
            with_={"path": "deps", "key": "none", "fail-on-cache-miss": "true"},
        ),
    )
    result, _ = run(request(tmp_path, repo, planned))
    assert [s.outcome for s in result.steps[:2]] == [Conclusion.FAILURE, Conclusion.FAILURE]
    assert "cannot contain commas" in result.annotations[0].message

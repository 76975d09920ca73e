from pathlib import Path

from stageline.plan.model import PlannedStep
from stageline.runs.states import Conclusion
from tests.runner.helpers import commit_files, git, job, make_repo, request, run, step


def checkout(index: int, **with_: str) -> PlannedStep:
    return step(index, uses="actions/checkout@v4", with_=with_, id=f"co{index}")


def test_default_checkout_is_a_shallow_repo_at_the_run_commit_on_its_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.txt": "v1\n"})
    commit_files(repo, {"a.txt": "v2\n"}, "second")
    planned = job(
        checkout(0),
        step(
            1,
            "git rev-parse HEAD; git rev-parse --abbrev-ref HEAD; git rev-list --count HEAD; "
            "git rev-parse --is-shallow-repository; cat a.txt; git status --porcelain | wc -l",
        ),
    )
    req = request(tmp_path, repo, planned)
    result, sink = run(req)
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    assert sink.lines(1)[1:] == [req.sha, "main", "1", "true", "v2", "0"]
    assert result.steps[0].outputs == {"ref": "refs/heads/main", "commit": req.sha}


def test_fetch_depth_zero_has_all_history_and_tags(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    git(repo, "tag", "v1.0")
    commit_files(repo, {"b.txt": "b"}, "second")
    planned = job(
        checkout(0, **{"fetch-depth": "0"}), step(1, "git rev-list --count HEAD; git tag")
    )
    _, sink = run(request(tmp_path, repo, planned))
    assert sink.lines(1)[1:] == ["2", "v1.0"]


def test_ref_and_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.txt": "old\n"})
    git(repo, "tag", "v1")
    commit_files(repo, {"a.txt": "new\n"}, "second")
    planned = job(checkout(0, ref="v1", path="sub/old"), step(1, "cat sub/old/a.txt; cat a.txt"))
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    assert sink.lines(1)[1:] == ["old", "new"]


def test_unknown_ref_other_repository_and_outside_path_fail(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, uses="actions/checkout@v4", with_={"ref": "nope"}, continue_on_error=True),
        step(
            1,
            uses="actions/checkout@v4",
            with_={"repository": "other/repo"},
            continue_on_error=True,
        ),
        step(2, uses="actions/checkout@v4", with_={"path": "../escape"}, continue_on_error=True),
    )
    result, _ = run(request(tmp_path, repo, planned))
    assert [s.outcome for s in result.steps] == [Conclusion.FAILURE] * 3
    messages = " ".join(a.message for a in result.annotations)
    assert "'nope' was not found" in messages and "other/repo" in messages
    assert "not under the workspace" in messages

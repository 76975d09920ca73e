"""upload-artifact / download-artifact, with the path rules of their READMEs."""

import json
from pathlib import Path

import pytest

from stageline.plan.model import PlannedStep
from stageline.runs.states import Conclusion
from tests.runner.helpers import job, make_repo, request, run, step


def upload(index: int, ref: str = "v4", if_: str | None = None, **with_: str) -> PlannedStep:
    return step(index, uses=f"actions/upload-artifact@{ref}", with_=with_, if_=if_)


def test_upload_keeps_hierarchy_below_the_common_ancestor(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(
            0,
            "mkdir -p path/to/dir-1 path/to/dir-2 && echo 1 > path/to/dir-1/file.txt "
            "&& echo 2 > path/to/dir-2/file.txt && echo 3 > path/to/dir-1/skip.log "
            "&& echo h > path/to/dir-1/.hidden",
        ),
        upload(
            1,
            name="my-artifact",
            path="path/to/dir-1/\npath/to/dir-2/\n!**/*.log",
            **{"retention-days": "5"},
        ),
    )
    req = request(tmp_path, repo, planned)
    result, sink = run(req)
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    files = tmp_path / "artifacts/my-artifact/files"
    assert sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file()) == [
        "dir-1/file.txt",
        "dir-2/file.txt",
    ]
    meta = json.loads((tmp_path / "artifacts/my-artifact/artifact.json").read_text())
    assert meta["retention_days"] == 5 and meta["files"] == 2
    (event,) = sink.events("artifact.uploaded")
    assert event["name"] == "my-artifact" and event["job"] == "build"


def test_wildcard_keeps_the_path_after_the_first_wildcard(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path, {"path/to/a/directory/foo1.txt": "x", "path/to/b/directory/foo2.txt": "y"}
    )
    planned = job(upload(0, name="w", path="path/to/*/directory/foo?.txt"))
    run(request(tmp_path, repo, planned))
    files = tmp_path / "artifacts/w/files"
    assert sorted(str(p.relative_to(files)) for p in files.rglob("*.txt")) == [
        "a/directory/foo1.txt",
        "b/directory/foo2.txt",
    ]


def test_single_file_and_missing_files_modes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"out/report.html": "<p>"})
    planned = job(
        upload(0, path="out/report.html"),
        upload(1, name="none", path="nothing/*"),
        upload(2, name="strict", path="nothing/*", **{"if-no-files-found": "error"}),
    )
    result, _ = run(request(tmp_path, repo, planned))
    assert (tmp_path / "artifacts/artifact/files/report.html").read_text() == "<p>"
    assert result.steps[1].conclusion == Conclusion.SUCCESS
    assert result.steps[2].conclusion == Conclusion.FAILURE
    levels = [a.level for a in result.annotations]
    assert levels == ["warning", "error"]


def test_v4_refuses_a_second_upload_of_a_name_v3_merges(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.txt": "a", "b.txt": "b"})
    planned = job(
        upload(0, name="x", path="a.txt"),
        upload(1, name="x", path="b.txt"),
        upload(2, ref="v3", name="y", path="a.txt", if_="always()"),
        upload(3, ref="v3", name="y", path="b.txt", if_="always()"),
        upload(4, name="x", path="b.txt", overwrite="true", if_="always()"),
    )
    result, _ = run(request(tmp_path, repo, planned))
    assert [s.outcome.value for s in result.steps] == [
        "success",
        "failure",
        "success",
        "success",
        "success",
    ]
    assert sorted(p.name for p in (tmp_path / "artifacts/y/files").iterdir()) == ["a.txt", "b.txt"]
    assert [p.name for p in (tmp_path / "artifacts/x/files").iterdir()] == ["b.txt"]


def test_download_by_name_and_all_across_jobs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"dist/app.js": "js", "docs/index.md": "md"})
    producer = job(
        upload(0, name="app", path="dist"), upload(1, name="docs", path="docs"), key="build"
    )
    run(request(tmp_path, repo, producer))
    consumer = job(
        step(0, "rm -rf dist docs"),
        step(
            1, uses="actions/download-artifact@v4", with_={"name": "app", "path": "got"}, id="one"
        ),
        step(2, uses="actions/download-artifact@v4", with_={"path": "all"}),
        step(3, uses="actions/download-artifact@v4", with_={"name": "missing"}),
        step(
            4,
            "cat got/app.js all/app/app.js all/docs/index.md; echo; "
            "echo ${{ steps.one.outputs.download-path }}",
            if_="always()",
        ),
        key="deploy",
    )
    result, sink = run(request(tmp_path, repo, consumer))
    assert result.steps[3].conclusion == Conclusion.FAILURE
    assert "Artifact not found for name: missing" in result.annotations[0].message
    lines = sink.lines(4)
    assert lines[1] == "jsjsmd" and lines[2].endswith("/workspace/got")


def test_invalid_name(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    result, _ = run(request(tmp_path, repo, job(upload(0, name="a/b", path="README.md"))))
    assert result.conclusion == Conclusion.FAILURE


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names_are_invalid_not_already_existing(tmp_path: Path, name: str) -> None:
    repo = make_repo(tmp_path)
    result, _ = run(request(tmp_path, repo, job(upload(0, name=name, path="README.md"))))
    assert result.conclusion == Conclusion.FAILURE
    [annotation] = result.annotations
    assert annotation.message == (
        f"upload-artifact: invalid artifact name '{name}': a name must not be '.' or '..'"
    )
    assert not (tmp_path / "artifacts" / "files").exists()

"""Remote actions fetched from a local git daemon into the action cache, and run."""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stageline.runner.actions import check_uses, pull, remote, resolve
from stageline.runs.states import Conclusion
from tests.runner.actions.gitserver import ActionServer, free_port
from tests.runner.helpers import job, make_repo, request, run, step

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def test_parse_short_and_full_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGELINE_ACTIONS_URL", "http://127.0.0.1:9/")
    short = remote.parse("acme/tool/sub/dir@v1.2")
    assert short is not None
    assert (short.url, short.key, short.sub, short.ref) == (
        "http://127.0.0.1:9/acme/tool",
        "acme/tool",
        "sub/dir",
        "v1.2",
    )
    full = remote.parse("https://gitea.example:3000/org/act.git@main")
    assert full is not None
    assert (full.url, full.key, full.sub) == (
        "https://gitea.example:3000/org/act",
        "gitea.example_3000/org/act",
        "",
    )
    assert remote.parse("nonsense") is None


def test_tag_branch_and_sha_resolve_to_commits(action_server: ActionServer) -> None:
    shas = action_server.shas
    for ref, expected in [
        ("v1", shas["greet@v1"]),
        ("next", shas["greet@main"]),
        ("main", shas["greet@main"]),
        (shas["greet@v1"], shas["greet@v1"]),
        (shas["greet@v1"][:10], shas["greet@v1"]),
    ]:
        found = resolve(f"acme/greet@{ref}", "/nonexistent", [])
        assert not isinstance(found, str), found
        assert found.sha == expected
        assert found.directory == str(remote.cache_root() / f"acme/greet@{expected}")
        assert found.repository == "acme/greet" and found.ref == ref
    assert (remote.cache_root() / "acme/greet.git/HEAD").is_file()


def test_a_sub_path_and_a_full_url(action_server: ActionServer) -> None:
    found = resolve("acme/wrap/sub@v2", "/nonexistent", [])
    assert not isinstance(found, str), found
    assert found.directory is not None and found.directory.endswith("/sub")
    found = resolve(f"{action_server.url}/acme/greet@v1", "/nonexistent", [])
    assert not isinstance(found, str), found
    assert found.sha == action_server.shas["greet@v1"]
    assert "127.0.0.1_" in (found.directory or "")


def test_errors_are_one_line_and_name_the_url(action_server: ActionServer) -> None:
    message = check_uses("acme/greet@v9", "/nonexistent", [])
    url = f"{action_server.url}/acme/greet"
    assert message == f"action 'acme/greet@v9': no tag, branch or commit 'v9' in {url}"
    message = check_uses("acme/missing@v1", "/nonexistent", []) or ""
    assert message.startswith(
        f"cannot fetch action 'acme/missing@v1' from {action_server.url}/acme/missing: "
    )
    assert "\n" not in message
    action_server.publish("acme/empty", {"README": "no action here"})
    action_server.tag("acme/empty", "v1")
    message = check_uses("acme/empty@v1", "/nonexistent", []) or ""
    assert "no action.yml" in message and f"{action_server.url}/acme/empty" in message


def test_an_unreachable_server_is_a_clear_error() -> None:
    url = os.environ["STAGELINE_ACTIONS_URL"]
    message = check_uses("acme/greet@v1", "/nonexistent", []) or ""
    assert message.startswith(f"cannot fetch action 'acme/greet@v1' from {url}/acme/greet: ")
    assert "\n" not in message


def test_a_docker_action_names_the_engine_it_needs(action_server: ActionServer) -> None:
    message = check_uses("acme/boxed@v1", "/nonexistent", []) or ""
    assert "action 'acme/boxed@v1'" in message
    assert "container actions need a Docker engine" in message


def test_offline_uses_only_the_cache(
    action_server: ActionServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_OFFLINE", "1")
    message = check_uses("acme/greet@v1", "/nonexistent", []) or ""
    assert "stageline actions pull" in message and "offline" in message
    monkeypatch.delenv("STAGELINE_OFFLINE")
    assert check_uses("acme/greet@v1", "/nonexistent", []) is None
    monkeypatch.setenv("STAGELINE_OFFLINE", "1")
    remote._resolved.clear()  # a new process: only the cache remains
    found = resolve("acme/greet@v1", "/nonexistent", [])
    assert not isinstance(found, str) and found.sha == action_server.shas["greet@v1"]
    assert check_uses("acme/greet@next", "/x", []) is None  # the whole repository is cached
    assert "stageline actions pull" in (check_uses("acme/wrap@v2", "/x", []) or "")


def test_set_offline_is_the_flag(action_server: ActionServer) -> None:
    remote.set_offline()
    try:
        assert "stageline actions pull" in (check_uses("acme/greet@v1", "/x", []) or "")
    finally:
        remote.set_offline(False)


def test_a_moved_branch_is_fetched_again_by_a_new_process(action_server: ActionServer) -> None:
    first = resolve("acme/greet@next", "/x", [])
    assert not isinstance(first, str)
    moved = action_server.publish("acme/greet", {"extra.txt": "x"}, "moved")
    action_server.branch("acme/greet", "next")
    again = resolve("acme/greet@next", "/x", [])
    assert not isinstance(again, str) and again.sha == first.sha  # one run, one commit
    remote._resolved.clear()
    latest = resolve("acme/greet@next", "/x", [])
    assert not isinstance(latest, str) and latest.sha == moved


def test_vendored_copy_wins_over_the_cache(action_server: ActionServer, tmp_path: Path) -> None:
    vendored = tmp_path / "vend/acme/greet@v1"
    vendored.mkdir(parents=True)
    (vendored / "action.yml").write_text("runs:\n  using: composite\n  steps: []\n")
    found = resolve("acme/greet@v1", "/x", [str(tmp_path / "vend")])
    assert not isinstance(found, str)
    assert os.path.normpath(found.directory or "") == str(vendored) and found.sha == ""


def test_concurrent_fetches_share_the_cache(action_server: ActionServer) -> None:
    def one(_: int) -> str:
        remote._resolved.clear()
        found = resolve("acme/wrap@v2", "/x", [])
        assert not isinstance(found, str), found
        assert (Path(found.directory or "") / "action.yml").is_file()
        return found.sha

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(one, range(8))) == {action_server.shas["wrap@v2"]}
    leftovers = [p.name for p in (remote.cache_root() / "acme").iterdir() if p.name.startswith(".")]
    assert leftovers == []


@needs_node
def test_node_action_with_inputs_outputs_pre_and_post(
    action_server: ActionServer, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    planned = job(
        step(0, uses="acme/greet@v1", id="g", with_={"who": "bob", "shout": "true"}),
        step(1, "echo got=${{ steps.g.outputs.greeting }}"),
    )
    assert check_uses("acme/greet@v1", str(repo), []) is None
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    names = [(s.index, s.name) for s in result.steps]
    assert names[0] == (2, "Pre Run acme/greet@v1")  # at job start, indexed after the steps
    assert names[3] == (3, "Post Run acme/greet@v1")
    assert [line for line in sink.lines(2) if line.startswith("greet")] == ["greet-pre"]
    assert [line for line in sink.lines(0) if line.startswith("greet")] == ["greet-main HELLO BOB"]
    assert sink.lines(1)[-1] == "got=HELLO BOB"
    assert sink.lines(3)[-1] == "greet-post HELLO BOB"
    assert sink.events("action.resolved") == [
        {
            "uses": "acme/greet@v1",
            "sha": action_server.shas["greet@v1"],
            "url": f"{action_server.url}/acme/greet",
            "step": 0,
        }
    ]


@needs_node
def test_the_pre_of_a_later_step_runs_before_the_first_step(
    action_server: ActionServer, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    planned = job(
        step(0, "echo script-1"),
        step(1, "echo script-2"),
        step(2, uses="acme/greet@v1", with_={"who": "${{ github.actor }}"}),
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    started = [data for kind, data in sink.calls if kind == "started"]
    assert started == [
        (3, "Pre Run acme/greet@v1"),
        (0, "Run echo script-1"),
        (1, "Run echo script-2"),
        (2, "Run acme/greet@v1"),
        (4, "Post Run acme/greet@v1"),
    ]
    assert "greet-pre" in sink.lines(3) and "greet-main hello octocat" in sink.lines(2)


@needs_node
def test_composite_action_using_another_remote_action(
    action_server: ActionServer, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    planned = job(
        step(0, uses="acme/wrap@v2", id="w", with_={"who": "carol"}),
        step(1, "echo out=${{ steps.w.outputs.greeting }}"),
    )
    remote._resolved.clear()
    assert check_uses("acme/wrap@v2", str(repo), []) is None  # fetches acme/greet too
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    assert "greet-main hello carol" in sink.lines(0) and "wrap-done" in sink.lines(0)
    assert sink.lines(1)[-1] == "out=hello carol"
    assert [s.name for s in result.steps][2:] == ["Post Run acme/greet@v1"]
    assert {e["uses"] for e in sink.events("action.resolved")} == {"acme/wrap@v2", "acme/greet@v1"}


def test_pull_fetches_nested_actions_and_reports_problems(action_server: ActionServer) -> None:
    fetched, problems = pull(["acme/wrap@v2", "./local", "acme/boxed@v1"], "/nonexistent", [])
    assert {(f.uses, f.sha) for f in fetched} == {
        ("acme/wrap@v2", action_server.shas["wrap@v2"]),
        ("acme/greet@v1", action_server.shas["greet@v1"]),  # used inside acme/wrap
    }
    assert len(problems) == 2
    assert "no action.yml" in problems[0]
    assert "container actions need a Docker engine" in problems[1]


def test_a_checkout_keeps_executable_bits(action_server: ActionServer) -> None:
    action_server.publish("acme/script", {"action.yml": "runs:\n  using: composite\n  steps: []\n"})
    work = action_server.base.parent / "work/acme/script"
    (work / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (work / "run.sh").chmod(0o755)
    action_server.publish("acme/script", {})
    action_server.tag("acme/script", "v1")
    found = resolve("acme/script@v1", "/x", [])
    assert not isinstance(found, str), found
    assert os.access(Path(found.directory or "") / "run.sh", os.X_OK)


def test_a_cached_full_sha_needs_no_fetch(
    action_server: ActionServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = action_server.shas["greet@v1"]
    assert check_uses(f"acme/greet@{sha}", "/x", []) is None
    remote._resolved.clear()
    monkeypatch.setenv("STAGELINE_ACTIONS_URL", f"git://127.0.0.1:{free_port()}")  # down
    assert check_uses(f"acme/greet@{sha}", "/x", []) is None
    assert "cannot fetch" in (check_uses("acme/greet@v1", "/x", []) or "")  # a tag may move


def _age(paths: list[Path], seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    for path in paths:
        os.utime(path, (when, when))


def test_prune_removes_what_no_run_used_lately(
    action_server: ActionServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for uses in ("acme/greet@v1", "acme/wrap@v2"):
        assert not isinstance(resolve(uses, "/x", []), str)
    root = remote.cache_root()
    greet = [root / "acme/greet.git", root / f"acme/greet@{action_server.shas['greet@v1']}"]
    wrap = [root / "acme/wrap.git", root / f"acme/wrap@{action_server.shas['wrap@v2']}"]
    assert sorted(e.path for e in remote.entries()) == sorted(greet + wrap)
    _age(greet, 40 * 86400)

    removed = remote.prune(30 * 86400)

    assert sorted(e.path for e in removed) == sorted(greet)
    assert [p.exists() for p in greet + wrap] == [False, False, True, True]
    assert [p.name for p in (root / "acme").iterdir() if p.name.startswith(".gone")] == []
    remote._resolved.clear()
    monkeypatch.setenv("STAGELINE_OFFLINE", "1")
    assert "is not in the action cache" in str(resolve("acme/greet@v1", "/x", []))
    assert not isinstance(resolve("acme/wrap@v2", "/x", []), str)


def test_prune_to_a_size_takes_the_least_recently_used_first(
    action_server: ActionServer,
) -> None:
    for uses in ("acme/greet@v1", "acme/wrap@v2"):
        assert not isinstance(resolve(uses, "/x", []), str)
    by_path = {e.path: e for e in remote.entries()}
    ordered = sorted(by_path)  # acme/greet.git, acme/greet@..., acme/wrap.git, acme/wrap@...
    for rank, path in enumerate(ordered):  # greet.git least recently used, wrap@ most
        _age([path], 2 * remote.RECENT_S + 100 * (len(ordered) - rank))
    keep = by_path[ordered[-1]].size + by_path[ordered[-2]].size

    removed = remote.prune(None, keep)

    assert [e.path for e in removed] == ordered[:2]
    assert sum(e.size for e in remote.entries()) <= keep
    _age(ordered[2:], 0)  # used just now: kept whatever the size
    assert remote.prune(None, 0) == []

"""Trigger filters against GitHub's "Workflow syntax" pages: the filter pattern cheat
sheet tables and the on.<push|pull_request>.<branches|tags|paths> examples."""

from __future__ import annotations

from typing import Any

import pytest

from stageline.errors import Position, WorkflowError
from stageline.plan.model import Event
from stageline.workflow.filters import check, compile_pattern, included, matches
from stageline.workflow.model import Trigger, Workflow

WF = ".github/workflows/ci.yml"


def workflow(**triggers: dict[str, Any]) -> Workflow:
    on = {}
    for event, filters in triggers.items():
        positions = {key: Position(WF, 5 + i, 7) for i, key in enumerate(filters)}
        fields = {key.replace("-", "_"): value for key, value in filters.items()}
        on[event] = Trigger(Position(WF, 3, 3), event=event, positions=positions, **fields)
    return Workflow(Position(WF), path=WF, on=on)


def push(ref: str, paths: list[str] | None = None) -> Event:
    return Event(name="push", ref=ref, changed_paths=paths)


def pull_request(base: str, action: str = "opened", paths: list[str] | None = None) -> Event:
    payload = {"action": action, "pull_request": {"base": {"ref": base}}}
    return Event(name="pull_request", ref="refs/pull/7/merge", payload=payload, changed_paths=paths)


# "Patterns to match branches and tags": pattern, example matches.
BRANCH_ROWS = [
    ("feature/*", ["feature/my-branch", "feature/your-branch"]),
    ("feature/**", ["feature/beta-a/my-branch", "feature/your-branch", "feature/mona/the/octocat"]),
    ("main", ["main"]),
    ("releases/mona-the-octocat", ["releases/mona-the-octocat"]),
    ("*", ["main", "releases"]),
    ("**", ["all/the/branches", "every/tag"]),
    ("*feature", ["mona-feature", "feature", "ver-10-feature"]),
    ("v2*", ["v2", "v2.0", "v2.9"]),
    ("v[12].[0-9]+.[0-9]+", ["v1.10.1", "v2.0.0"]),
]

# "Patterns to match file paths": pattern(s), example matches, documented non-matches.
PATH_ROWS: list[tuple[list[str], list[str], list[str]]] = [
    (["*"], ["README.md", "server.rb"], []),
    (["*.jsx?"], ["page.js", "page.jsx"], []),
    (["**"], ["all/the/files.md"], []),
    (["*.js"], ["app.js", "index.js"], []),
    (["**.js"], ["index.js", "js/index.js", "src/js/app.js"], []),
    (["docs/*"], ["docs/README.md", "docs/file.txt"], []),
    (["docs/**"], ["docs/README.md", "docs/mona/octocat.txt"], []),
    (
        ["docs/**/*.md"],
        ["docs/README.md", "docs/mona/hello-world.md", "docs/a/markdown/file.md"],
        [],
    ),
    (["**/docs/**"], ["docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"], []),
    (["**/README.md"], ["README.md", "js/README.md"], []),
    (["**/*src/**"], ["a/src/app.js", "my-src/code/js/app.js"], []),
    (["**/*-post.md"], ["my-post.md", "path/their-post.md"], []),
    (
        ["**/migrate-*.sql"],
        ["migrate-10909.sql", "db/migrate-v1.0.sql", "db/sept/migrate-v1.sql"],
        [],
    ),
    (["*.md", "!README.md"], ["hello.md"], ["README.md", "docs/hello.md"]),
    (["*.md", "!README.md", "README*"], ["hello.md", "README.md", "README.doc"], []),
]


@pytest.mark.parametrize(("pattern", "names"), BRANCH_ROWS)
def test_branch_and_tag_pattern_table(pattern: str, names: list[str]) -> None:
    for name in names:
        assert included(name, [pattern]), (pattern, name)


@pytest.mark.parametrize(("patterns", "hits", "misses"), PATH_ROWS)
def test_path_pattern_table(patterns: list[str], hits: list[str], misses: list[str]) -> None:
    for path in hits:
        assert included(path, patterns), (patterns, path)
    for path in misses:
        assert not included(path, patterns), (patterns, path)


def test_cheat_sheet_rules() -> None:
    # `*` does not match `/`; `**` does.
    assert not included("feature/a/b", ["feature/*"])
    assert not included("releases/x", ["*"])
    # `?` and `+` repeat the preceding character; `[]` is one listed character.
    assert not included("page.jsxx", ["*.jsx?"])
    assert included("v1.10.100", ["v[12].[0-9]+.[0-9]+"])
    assert not included("v3.0.0", ["v[12].[0-9]+.[0-9]+"])
    assert included("Cat", ["[CB]at"]) and included("Bat", ["[CB]at"])
    assert not included("Hat", ["[CB]at"])
    assert included("100", ["[1-2]00"]) and not included("300", ["[1-2]00"])
    # `!` only negates at the start; a literal `.` is not a wildcard.
    assert included("a!b", ["a!b"])
    assert not included("v1x10", ["v1.10"])
    # Escaping a special character matches it literally.
    assert included("feature+x", ["feature\\+x"])
    assert not included("featurex", ["feature\\+x"])


def test_patterns_compile_once() -> None:
    assert compile_pattern("docs/**") is compile_pattern("docs/**")


def test_event_not_listed_does_not_run() -> None:
    ok, reason = matches(workflow(push={}), pull_request("main"))
    assert not ok
    assert "pull_request" in reason and "push" in reason


def test_short_form_runs_for_any_branch_or_tag() -> None:
    wf = workflow(push={})  # `on: push`
    assert matches(wf, push("refs/heads/feature/x"))[0]
    assert matches(wf, push("refs/tags/v1.0"))[0]


def test_multi_stage_example_branches() -> None:
    wf = workflow(push={"branches": ["develop", "main"]})
    assert matches(wf, push("refs/heads/main"))[0]
    assert matches(wf, push("refs/heads/develop"))[0]
    ok, reason = matches(wf, push("refs/heads/feature/x"))
    assert not ok
    assert reason == "branch 'feature/x' does not match push.branches [develop, main]"


def test_push_including_branches_and_tags() -> None:
    # Docs: "Example: Including branches and tags".
    wf = workflow(
        push={"branches": ["main", "mona/octocat", "releases/**"], "tags": ["v2", "v1.*"]}
    )
    for ref in ["heads/main", "heads/mona/octocat", "heads/releases/10", "tags/v2", "tags/v1.9.1"]:
        assert matches(wf, push(f"refs/{ref}"))[0], ref
    assert not matches(wf, push("refs/heads/dev"))[0]
    assert not matches(wf, push("refs/tags/v3"))[0]


def test_push_excluding_branches_and_tags() -> None:
    # Docs: "Example: Excluding branches and tags".
    wf = workflow(
        push={
            "branches-ignore": ["mona/octocat", "releases/**-alpha"],
            "tags-ignore": ["v2", "v1.*"],
        }
    )
    for ref in ["heads/mona/octocat", "heads/releases/beta/3-alpha", "tags/v2", "tags/v1.9"]:
        ok, reason = matches(wf, push(f"refs/{ref}"))
        assert not ok and "-ignore" in reason, ref
    assert matches(wf, push("refs/heads/main"))[0]
    assert matches(wf, push("refs/tags/v3"))[0]


def test_negation_order_matters() -> None:
    # Docs: "Example: Including and excluding branches".
    wf = workflow(push={"branches": ["releases/**", "!releases/**-alpha"]})
    assert matches(wf, push("refs/heads/releases/10"))[0]
    assert matches(wf, push("refs/heads/releases/beta/mona"))[0]
    assert not matches(wf, push("refs/heads/releases/10-alpha"))[0]
    assert not matches(wf, push("refs/heads/releases/beta/3-alpha"))[0]


def test_only_branch_filters_skip_tag_pushes_and_vice_versa() -> None:
    # Docs: "If you define only tags/tags-ignore or only branches/branches-ignore, the
    # workflow won't run for events affecting the undefined Git ref."
    assert not matches(workflow(push={"branches": ["**"]}), push("refs/tags/v1"))[0]
    assert not matches(workflow(push={"tags": ["**"]}), push("refs/heads/main"))[0]
    assert not matches(workflow(push={"branches-ignore": ["x"]}), push("refs/tags/v1"))[0]


def test_pull_request_branches_match_the_base_branch() -> None:
    # Docs: "Example: Including branches" for pull_request.
    wf = workflow(pull_request={"branches": ["main", "mona/octocat", "releases/**"]})
    assert matches(wf, pull_request("releases/10"))[0]
    assert not matches(wf, pull_request("develop"))[0]
    # Docs: "Example: Excluding branches".
    wf = workflow(pull_request={"branches-ignore": ["mona/octocat", "releases/**-alpha"]})
    assert not matches(wf, pull_request("releases/beta/3-alpha"))[0]
    assert matches(wf, pull_request("main"))[0]


def test_pull_request_activity_types() -> None:
    # Default types of pull_request are opened, synchronize and reopened.
    wf = workflow(pull_request={})
    assert matches(wf, pull_request("main", "synchronize"))[0]
    assert not matches(wf, pull_request("main", "closed"))[0]
    wf = workflow(pull_request={"types": ["closed"]})
    ok, reason = matches(wf, pull_request("main", "opened"))
    assert not ok and "pull_request.types [closed]" in reason


def test_paths_include_runs_when_one_path_matches() -> None:
    # Docs: "Example: Including paths" ('**.js').
    wf = workflow(push={"paths": ["**.js"]})
    assert matches(wf, push("refs/heads/main", ["README.md", "src/app.js"]))[0]
    ok, reason = matches(wf, push("refs/heads/main", ["README.md"]))
    assert not ok and "push.paths [**.js]" in reason


def test_paths_ignore_skips_only_when_every_path_is_ignored() -> None:
    # Docs: "Example: Excluding paths" ('docs/**').
    wf = workflow(push={"paths-ignore": ["docs/**"]})
    assert not matches(wf, push("refs/heads/main", ["docs/a.md", "docs/b/c.md"]))[0]
    assert matches(wf, push("refs/heads/main", ["docs/a.md", "src/x.py"]))[0]


def test_paths_with_negation() -> None:
    # Docs: "Example: Including and excluding paths".
    wf = workflow(push={"paths": ["sub-project/**", "!sub-project/docs/**"]})
    assert matches(wf, push("refs/heads/main", ["sub-project/index.js"]))[0]
    assert matches(wf, push("refs/heads/main", ["sub-project/src/index.js"]))[0]
    assert not matches(wf, push("refs/heads/main", ["sub-project/docs/readme.md"]))[0]


def test_branch_and_path_filters_must_both_hold() -> None:
    wf = workflow(push={"branches": ["main"], "paths": ["src/**"]})
    assert matches(wf, push("refs/heads/main", ["src/a.py"]))[0]
    assert not matches(wf, push("refs/heads/main", ["docs/a.md"]))[0]
    assert not matches(wf, push("refs/heads/dev", ["src/a.py"]))[0]


def test_paths_are_not_evaluated_for_tags_or_unknown_changes() -> None:
    wf = workflow(push={"tags": ["v*"], "paths": ["src/**"]})
    assert matches(wf, push("refs/tags/v1", ["docs/a.md"]))[0]
    wf = workflow(push={"paths": ["src/**"]})
    assert matches(wf, push("refs/heads/main", None))[0]


@pytest.mark.parametrize(
    ("pattern", "needle"),
    [
        ("release/[0-9", "'[' is never closed"),
        ("v[a-Z]", "range 'a-Z' is invalid"),
        ("+main", "'+' must follow a character"),
        ("**?", "'?' must follow a character"),
        ("!", "empty pattern"),
        ("main\\", "escapes nothing"),
        ("v[]", "must list at least one character"),
    ],
)
def test_invalid_patterns_are_positioned_errors(pattern: str, needle: str) -> None:
    wf = workflow(push={"branches": ["main", pattern]})
    with pytest.raises(WorkflowError) as caught:
        matches(wf, push("refs/heads/main"))
    rendered = str(caught.value)
    assert needle in rendered
    assert rendered.startswith(f"{WF}:5:7: error: invalid pattern")


def test_check_reports_conflicting_and_negative_only_filters() -> None:
    wf = workflow(
        push={"branches": ["main"], "branches-ignore": ["dev"]},
        pull_request={"branches": ["!main"]},
    )
    messages = [d.message for d in check(wf)]
    assert any("both 'branches' and 'branches-ignore'" in m for m in messages)
    assert any("only negated" in m for m in messages)
    assert check(workflow(push={"branches": ["main", "!dev"]})) == []


def test_no_changed_files_does_not_run_a_path_filtered_workflow() -> None:
    # Docs: "If there are no files changed, the workflow will not run."
    assert not matches(workflow(push={"paths": ["**"]}), push("refs/heads/main", []))[0]
    assert not matches(workflow(push={"paths-ignore": ["docs/**"]}), push("refs/heads/main", []))[0]


def test_workflow_run_branches_match_the_triggering_run() -> None:
    # Docs: on.workflow_run.<branches|branches-ignore>.
    wf = workflow(workflow_run={"branches": ["releases/**", "!releases/**-alpha"]})

    def run_on(branch: str) -> Event:
        payload = {"action": "requested", "workflow_run": {"head_branch": branch}}
        return Event(name="workflow_run", payload=payload)

    assert matches(wf, run_on("releases/10"))[0]
    assert matches(wf, run_on("releases/beta/mona"))[0]
    for branch in ["releases/10-alpha", "releases/beta/3-alpha", "main"]:
        assert not matches(wf, run_on(branch))[0], branch

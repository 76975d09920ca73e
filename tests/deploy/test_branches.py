"""Deployment branch policy: Ruby File.fnmatch with FNM_PATHNAME, as GitHub documents."""

from __future__ import annotations

import pytest

from stageline.deploy.branches import branch_refusal, fnmatch_pathname


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        # Examples from Ruby's File.fnmatch documentation (those that hold with FNM_PATHNAME).
        ("cat", "cat", True),
        ("cat", "category", False),
        ("c{at,ub}s", "cats", False),
        ("c?t", "cat", True),
        ("c??t", "cat", False),
        ("c*", "cats", True),
        ("ca[a-z]", "cat", True),
        ("ca[^t]", "cat", False),
        ("cat", "CAT", False),
        ("?", "/", False),
        ("*", "/", False),
        ("[/]", "/", False),
        ("\\?", "?", True),
        ("\\a", "a", True),
        ("\\a", "\\a", False),
        ("[\\?]", "?", True),
        ("*", ".profile", False),
        (".*", ".profile", True),
        ("**/foo", "a/b/c/foo", True),
        ("**/foo", "/a/b/c/foo", True),
        ("**/foo", "c:/a/b/c/foo", True),
        ("**/foo", "a/.b/c/foo", False),
        ("**.rb", "main.rb", True),
        ("**.rb", "./main.rb", False),
        ("**.rb", "lib/song.rb", False),
        ("*", "dave/.profile", False),
        # GitHub's deployment branch examples: wildcards do not match '/'.
        ("release/*", "release/1.0", True),
        ("release/*", "release/1.0/hotfix", False),
        ("release/*/*", "release/1.0/hotfix", True),
        ("main", "main", True),
        ("main", "main2", False),
        ("[", "[", True),
    ],
)
def test_fnmatch_pathname(pattern: str, name: str, expected: bool) -> None:
    assert fnmatch_pathname(pattern, name) is expected


def test_no_policy_allows_everything() -> None:
    assert branch_refusal(None, "refs/tags/v1") is None
    assert branch_refusal(None, "refs/heads/anything") is None


def test_policy() -> None:
    policy = ["main", "release/*"]
    assert branch_refusal(policy, "refs/heads/main") is None
    assert branch_refusal(policy, "refs/heads/release/2.0") is None
    refused = branch_refusal(policy, "refs/heads/feature/x")
    assert refused == (
        "branch 'feature/x' is not allowed to deploy; deployment branches allowed: main, release/*"
    )
    tag = branch_refusal(policy, "refs/tags/v1.0")
    assert tag is not None and tag.startswith("refs/tags/v1.0 is not a branch")
    assert branch_refusal([], "refs/heads/main") is not None

from collections.abc import Sequence
from pathlib import Path

from stageline.runner.contexts import (
    Evaluator,
    default_env,
    github_context,
    host_env,
    runner_context,
    step_env,
)
from stageline.runner.workspace import Workspace
from tests.runner.helpers import job, make_repo, request


def ws(tmp: Path) -> Workspace:
    return Workspace(str(tmp), str(tmp / "workspace"), str(tmp / "temp"))


def test_host_env_keeps_only_the_allow_list() -> None:
    env = host_env(
        {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "AWS_SECRET": "x", "SSH_AUTH_SOCK": "s"}
    )
    assert env == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C"}


def test_github_context_and_default_variables(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    req = request(tmp_path, repo, job(key="build"))
    github = github_context(req, ws(tmp_path), "/e.json")
    env = default_env(github, runner_context(ws(tmp_path), debug=False))
    assert env["GITHUB_SHA"] == req.sha
    assert env["GITHUB_REF"] == "refs/heads/main" and env["GITHUB_REF_NAME"] == "main"
    assert env["GITHUB_REF_TYPE"] == "branch"
    assert env["GITHUB_REPOSITORY"] == "acme/widget"
    assert env["GITHUB_REPOSITORY_OWNER"] == "acme"
    assert env["GITHUB_RUN_ID"] == "run-1" and env["GITHUB_JOB"] == "build"
    assert env["GITHUB_EVENT_NAME"] == "push" and env["GITHUB_EVENT_PATH"] == "/e.json"
    assert env["GITHUB_ACTOR"] == "octocat" and env["GITHUB_ACTIONS"] == "true"
    assert env["GITHUB_WORKSPACE"] == str(tmp_path / "workspace")
    assert env["RUNNER_TEMP"] == str(tmp_path / "temp") == env["TMPDIR"]
    assert env["RUNNER_OS"] in ("Linux", "macOS")
    assert "RUNNER_DEBUG" not in env and "GITHUB_ACTION_PATH" not in env


def test_workflow_env_cannot_override_github_variables_but_can_override_ci() -> None:
    env = step_env(
        {"PATH": "/usr/bin", "CI": "true"},
        [{"CI": "false", "GITHUB_SHA": "fake", "A": "1"}, {"A": "2"}],
        {"GITHUB_SHA": "real"},
        ["/tools"],
    )
    assert env["CI"] == "false" and env["GITHUB_SHA"] == "real" and env["A"] == "2"
    assert env["PATH"] == "/tools:/usr/bin"


def test_evaluator_short_circuits_and_evaluates() -> None:
    seen: list[list[str]] = []

    def hash_files(patterns: Sequence[str]) -> str:
        seen.append(list(patterns))
        return "h"

    ev = Evaluator(hash_files)
    contexts = {"env": {"A": "x"}, "matrix": {"n": 3}}
    assert ev.template("no expressions", contexts, "success") == "no expressions"
    assert ev.text("${{ env.A }}-${{ matrix.n }}", contexts, "success") == "x-3"
    assert ev.text("${{ matrix.n }}", contexts, "success") == "3"
    assert ev.text(True, contexts, "success") == "true"
    assert ev.text("${{ hashFiles('a', 'b') }}", contexts, "success") == "h"
    assert seen == [["a", "b"]]
    assert ev.condition(None, contexts, "success") and not ev.condition(None, contexts, "failure")
    assert ev.condition("always()", contexts, "cancelled")
    assert not ev.condition("env.A == 'x'", contexts, "failure")  # implicit success() &&
    assert ev.mapping({"K": "${{ env.A }}", "N": 2}, contexts, "success") == {"K": "x", "N": "2"}


def test_env_from_the_command_line_can_name_another_github_instance(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    api = "http://127.0.0.1:8123/api/v3"
    req = request(tmp_path, repo, job(key="build"), extra_env={"GITHUB_API_URL": api})
    github = github_context(req, ws(tmp_path), "/e.json")
    env = default_env(github, runner_context(ws(tmp_path), debug=False))
    assert github["api_url"] == env["GITHUB_API_URL"] == api
    assert github["server_url"] == env["GITHUB_SERVER_URL"] == "https://github.com"


def test_the_github_token_secret_is_github_token(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    req = request(tmp_path, repo, job(key="build"), secrets={"GITHUB_TOKEN": "ghs_abc"})
    assert github_context(req, ws(tmp_path), "/e.json")["token"] == "ghs_abc"
    bare = request(tmp_path, repo, job(key="build"))
    assert github_context(bare, ws(tmp_path), "/e.json")["token"] == ""

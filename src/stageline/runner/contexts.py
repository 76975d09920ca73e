"""Expression contexts and the process environment of a job's steps.

The environment of a step is built only from, lowest precedence first:

1. an allow-list of the host's variables: PATH, HOME, USER, LOGNAME, SHELL, LANG,
   LANGUAGE, TZ and every LC_* (enough to find tools and keep the locale; nothing that
   carries credentials such as SSH_AUTH_SOCK or cloud tokens leaks into a job);
2. ``CI=true`` (GitHub lets workflows override it);
3. `JobRequest.extra_env` (``--env``);
4. the workflow's ``env``, the job's ``env``, GITHUB_ENV additions, the step's ``env``;
5. GitHub's default GITHUB_*/RUNNER_* variables (and AGENT_TOOLSDIRECTORY), which a
   workflow cannot overwrite (``--env`` may name another instance: GITHUB_SERVER_URL,
   GITHUB_API_URL, GITHUB_GRAPHQL_URL set ``github.*_url`` too, as for a GitHub
   Enterprise Server), and
   TMPDIR pointing at RUNNER_TEMP so even ``mktemp`` stays inside the job's directory.

PATH is then prefixed with the GITHUB_PATH additions.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stageline.runner import toolcache
from stageline.runner.contract import JobRequest
from stageline.runner.files import build_path
from stageline.runner.workspace import Workspace

HOST_ALLOW = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ"})
RUNNER_NAME = "stageline"


def host_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k in HOST_ALLOW or k.startswith("LC_")}


def runner_os() -> str:
    return {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}.get(sys.platform, "Linux")


def runner_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "X64", "amd64": "X64", "aarch64": "ARM64", "arm64": "ARM64"}.get(
        machine, "X86" if machine in ("i386", "i686") else machine.upper()
    )


def runner_context(ws: Workspace, debug: bool) -> dict[str, Any]:
    return {
        "name": RUNNER_NAME,
        "os": runner_os(),
        "arch": runner_arch(),
        "temp": ws.temp,
        "tool_cache": str(toolcache.root()),
        "debug": "1" if debug else "",
        "environment": "self-hosted",
    }


def _ref_name(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


#: the GitHub instance a job talks to; the user may name another one with ``--env``
_INSTANCE_VARS = {
    "GITHUB_SERVER_URL": "server_url",
    "GITHUB_API_URL": "api_url",
    "GITHUB_GRAPHQL_URL": "graphql_url",
}


def github_context(request: JobRequest, ws: Workspace, event_path: str) -> dict[str, Any]:
    """The `github` context of the job: the engine's, completed and made local."""
    github = dict(request.contexts.get("github") or {})
    ref = github.get("ref") or request.ref
    repository = github.get("repository") or ""
    defaults: dict[str, Any] = {
        "ref": ref,
        "ref_name": _ref_name(ref),
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "ref_protected": False,
        "run_id": request.run_id,
        "run_number": "1",
        "run_attempt": "1",
        "repository": repository,
        "repository_owner": repository.split("/")[0] if "/" in repository else "",
        "event_name": "push",
        "event": {},
        "actor": "",
        "server_url": "https://github.com",
        "api_url": "https://api.github.com",
        "graphql_url": "https://api.github.com/graphql",
        "base_ref": "",
        "head_ref": "",
        "retention_days": "90",
        "workflow": "",
        "workflow_ref": "",
        "workflow_sha": request.sha,
    }
    for key, value in defaults.items():
        if github.get(key) in (None, ""):
            github[key] = value
    github.setdefault("triggering_actor", github["actor"])
    if not github.get("token"):  # act's rule: `-s GITHUB_TOKEN=...` is `github.token` too
        github["token"] = request.secrets.get("GITHUB_TOKEN", "")
    for var, key in _INSTANCE_VARS.items():  # another GitHub: Enterprise, Gitea, a test's
        if request.extra_env.get(var):
            github[key] = request.extra_env[var]
    github.update(
        sha=request.sha,  # the commit in the workspace, whatever the engine's context says
        workspace=ws.workspace,
        job=github.get("job") or request.job.job_id,  # a called job: its id in the callee
        event_path=event_path,
        action="",
        action_path="",
        action_repository="",
        action_ref="",
    )
    return github


def event_file(github: Mapping[str, Any], work_root: str) -> str:
    """GITHUB_EVENT_PATH: the event payload, written once per run (jobs share it)."""
    data = json.dumps(github.get("event") or {}, sort_keys=True)
    path = os.path.join(work_root, f".event-{hashlib.sha1(data.encode()).hexdigest()[:16]}.json")
    if not os.path.exists(path):
        partial = f"{path}.{uuid.uuid4().hex}"
        with open(partial, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(partial, path)
    return path


_DEFAULT_VARS = {
    "GITHUB_ACTOR": "actor",
    "GITHUB_API_URL": "api_url",
    "GITHUB_BASE_REF": "base_ref",
    "GITHUB_EVENT_NAME": "event_name",
    "GITHUB_EVENT_PATH": "event_path",
    "GITHUB_GRAPHQL_URL": "graphql_url",
    "GITHUB_HEAD_REF": "head_ref",
    "GITHUB_JOB": "job",
    "GITHUB_REF": "ref",
    "GITHUB_REF_NAME": "ref_name",
    "GITHUB_REF_PROTECTED": "ref_protected",
    "GITHUB_REF_TYPE": "ref_type",
    "GITHUB_REPOSITORY": "repository",
    "GITHUB_REPOSITORY_OWNER": "repository_owner",
    "GITHUB_RETENTION_DAYS": "retention_days",
    "GITHUB_RUN_ATTEMPT": "run_attempt",
    "GITHUB_RUN_ID": "run_id",
    "GITHUB_RUN_NUMBER": "run_number",
    "GITHUB_SERVER_URL": "server_url",
    "GITHUB_SHA": "sha",
    "GITHUB_TRIGGERING_ACTOR": "triggering_actor",
    "GITHUB_WORKFLOW": "workflow",
    "GITHUB_WORKFLOW_REF": "workflow_ref",
    "GITHUB_WORKFLOW_SHA": "workflow_sha",
    "GITHUB_WORKSPACE": "workspace",
    "GITHUB_ACTION": "action",
    "GITHUB_ACTION_PATH": "action_path",
    "GITHUB_ACTION_REPOSITORY": "action_repository",
    "GITHUB_ACTION_REF": "action_ref",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def default_env(github: Mapping[str, Any], runner: Mapping[str, Any]) -> dict[str, str]:
    """GitHub's default variables (step-specific ones such as GITHUB_OUTPUT come later)."""
    env = {var: _text(github.get(key)) for var, key in _DEFAULT_VARS.items()}
    for var in ("GITHUB_ACTION_PATH", "GITHUB_ACTION_REPOSITORY", "GITHUB_ACTION_REF"):
        if not env[var]:  # set only while an action runs
            del env[var]
    env["GITHUB_ACTIONS"] = "true"
    env.update(
        RUNNER_NAME=runner["name"],
        RUNNER_OS=runner["os"],
        RUNNER_ARCH=runner["arch"],
        RUNNER_TEMP=runner["temp"],
        RUNNER_TOOL_CACHE=runner["tool_cache"],
        AGENT_TOOLSDIRECTORY=runner["tool_cache"],  # setup-python reads it first
        RUNNER_ENVIRONMENT=runner["environment"],
        TMPDIR=runner["temp"],
    )
    if runner.get("debug"):
        env["RUNNER_DEBUG"] = "1"
    return env


def step_env(
    base: Mapping[str, str],
    layered: Sequence[Mapping[str, str]],
    defaults: Mapping[str, str],
    path_additions: list[str],
) -> dict[str, str]:
    """Compose a step's environment (see the module docstring for the order)."""
    env = dict(base)
    for layer in layered:
        env.update(layer)
    env.update(defaults)
    env["PATH"] = build_path(path_additions, env.get("PATH", os.defpath))
    return env


def to_text(value: Any) -> str:
    """A value as GitHub turns it into a string (env values, inputs, outputs)."""
    from stageline.expressions import to_string

    return str(to_string(value))


class Evaluator:
    """Evaluates templates and conditions with the job's status and hashFiles helper.

    Text without ``${{`` is returned as is, and a missing ``if:`` is ``success()``,
    without calling the expression engine: most steps need nothing more.
    """

    def __init__(self, hash_files: Callable[[Sequence[str]], str]) -> None:
        self.hash_files = hash_files

    def template(self, text: str, contexts: Mapping[str, Any], status: str) -> Any:
        """The value of `text`: a string, or any value when it is one whole expression."""
        if "${{" not in text:
            return text
        from stageline.expressions import evaluate_template

        return evaluate_template(text, contexts, status=status, hash_files=self.hash_files)

    def text(self, value: Any, contexts: Mapping[str, Any], status: str) -> str:
        """A scalar from the workflow (string template, number, bool) as the string it means."""
        if isinstance(value, str):
            result = self.template(value, contexts, status)
            return result if isinstance(result, str) else to_text(result)
        return _text(value) if not isinstance(value, float) else to_text(value)

    def condition(self, text: str | None, contexts: Mapping[str, Any], status: str) -> bool:
        if text is None or not str(text).strip():
            return status == "success"
        if isinstance(text, bool):
            return text and status == "success"
        from stageline.expressions import evaluate_condition

        return bool(
            evaluate_condition(str(text), contexts, status=status, hash_files=self.hash_files)
        )

    def mapping(
        self, value: Mapping[str, Any] | str, contexts: Mapping[str, Any], status: str
    ) -> dict[str, str]:
        """An ``env:``/``with:`` mapping (or one expression yielding a mapping) as strings;
        expression keys and ``${{ insert }}`` as GitHub evaluates them."""
        if isinstance(value, str):
            result = self.template(value, contexts, status)
            if not isinstance(result, Mapping):
                raise ValueError(f"expected a mapping, got {to_text(result)!r}")
            value = result
        if not any(isinstance(k, str) and "${{" in k for k in value):
            return {str(k): self.text(v, contexts, status) for k, v in value.items()}
        from stageline.expressions.mappings import evaluate_keys

        return evaluate_keys(
            value,
            lambda text: self.template(text, contexts, status),
            lambda item: self.text(item, contexts, status),
            to_text,
        )

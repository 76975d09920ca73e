"""Security lint: the workflow mistakes that GitHub's hardening guide, actionlint and
zizmor warn about, as positioned warnings with a fix.

* ``script-injection``: an untrusted ``github.event`` field (the guide's list: titles,
  bodies, comments, commit messages and authors, head refs and labels, page names) in
  a ``${{ }}`` of a ``run:`` script or of ``actions/github-script``'s ``script:``. The
  value is pasted into the script before it runs, so a PR title can run commands.
* ``dangerous-checkout``: a ``pull_request_target`` or ``workflow_run`` workflow that
  checks out the pull request's head: untrusted code then runs with the base
  repository's secrets and write token ("pwn request").
* ``secret-exposure``: ``${{ secrets.X }}`` pasted into a ``run:`` script (the value
  lands on a command line and in the script file), or a secret ``echo``-ed.
* ``unpinned-action``: in a job that holds secrets, a third-party action pinned by a
  tag or branch, not a full commit SHA (a moved tag runs new code with the secrets).
  Actions of ``actions/`` and ``github/`` are GitHub's own and excepted, as zizmor's
  default policy does: their tags are as trusted as the platform running them.
* ``excessive-permissions``: ``permissions: write-all``, or a workflow that deploys
  without any ``permissions:``.

Safe forms are not flagged: an untrusted value passed through ``env:`` and read as
``"$TITLE"``, a secret read from the environment by a program, a checkout of the base
under ``pull_request_target``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from stageline.deploy.lint import is_deploy_job, looks_like_deploy
from stageline.errors import Diagnostic, Position
from stageline.workflow.model import Job, Step, Workflow

_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_ANY = r"(?:\[\s*\d+\s*\]|\.\*|\[\s*\*\s*\])"
#: GitHub's list of fields a user outside the repository controls (hardening guide),
#: with the same fields as `workflow_run` and discussions carry them.
_UNTRUSTED = re.compile(
    r"\bgithub\s*\.\s*(?:head_ref\b|event\s*\.\s*(?:"
    + "|".join(
        [
            r"(?:issue|pull_request|discussion)\.(?:title|body)",
            r"(?:comment|review|review_comment)\.body",
            rf"pages{_ANY}\.page_name",
            rf"commits{_ANY}\.(?:message|author\.(?:email|name))",
            r"(?:head_commit|workflow_run\.head_commit)\.(?:message|author\.(?:email|name))",
            r"pull_request\.head\.(?:ref|label|repo\.default_branch)",
            r"workflow_run\.head_branch",
            rf"workflow_run\.pull_requests{_ANY}\.head\.ref",
        ]
    )
    + r")\b)",
    re.IGNORECASE,
)
#: What names the pull request's head in a checkout's `ref:` or `repository:`.
_HEAD = re.compile(
    r"\bgithub\s*\.\s*(?:head_ref\b|event\s*\.\s*(?:pull_request\.(?:head\.(?:sha|ref|repo)"
    r"|merge_commit_sha)|workflow_run\.(?:head_sha|head_branch|head_repository)"
    r"|number|pull_request\.number))"
    r"|refs/pull/",
    re.IGNORECASE,
)
_SECRET = re.compile(r"\bsecrets\s*(?:\.\s*[\w-]+|\[)", re.IGNORECASE)
_SHA = re.compile(r"^[0-9a-f]{40}$")
_UNTRUSTED_TRIGGERS = ("pull_request_target", "workflow_run")
_GITHUB_OWNED = ("actions/", "github/")


class _Finder:
    """Positions inside scalars, found in the file's text from the value's position."""

    def __init__(self, text: str | None) -> None:
        self.text = text
        self.starts = [0]
        for line in (text or "").splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def locate(self, start: Position, needle: str) -> Position:
        """Where `needle` first occurs at or after `start` (`start` itself when the text is
        unknown or the scalar was escaped out of recognition)."""
        if self.text is None or start.line > len(self.starts) - 1:
            return start
        found = self.text.find(needle, self.starts[start.line - 1] + start.col - 1)
        if found < 0:
            return start
        line = next(i for i, s in enumerate(self.starts) if s > found)
        return Position(start.path, line, found - self.starts[line - 1] + 1)


def security_findings(workflow: Workflow, text: str | None = None) -> list[Diagnostic]:
    """Security warnings for `workflow`, whose file `text` positions findings inside
    scripts (read from `workflow.path` when not given)."""
    if text is None and Path(workflow.path).is_file():
        text = Path(workflow.path).read_text(encoding="utf-8", errors="replace")
    finder = _Finder(text)
    found: list[Diagnostic] = []
    untrusted_trigger = next((e for e in _UNTRUSTED_TRIGGERS if e in workflow.on), None)
    for job in workflow.jobs.values():
        holds_secrets = _holds_secrets(workflow, job)
        for step in job.steps:
            found += _injection(step, finder)
            found += _secret_in_script(workflow, job, step, finder)
            if untrusted_trigger:
                found += _dangerous_checkout(step, untrusted_trigger, finder)
            if holds_secrets and step.uses:
                found += _unpinned(step.uses, step.at("uses"), job)
        if holds_secrets and job.uses:
            found += _unpinned(job.uses, job.at("uses"), job)
    found += _permissions(workflow)
    return sorted(found, key=lambda d: (d.position.line, d.position.col) if d.position else (0, 0))


def _warn(where: Position, message: str, hint: str) -> Diagnostic:
    return Diagnostic(where, message, "warning", hint)


def _expressions(text: str) -> Iterator[tuple[str, str]]:
    """Each `${{ }}` of `text`: as written, and its inside."""
    for match in _EXPRESSION.finditer(text):
        yield match.group(0), match.group(1)


def _scripts(step: Step) -> Iterator[tuple[str, str, str]]:
    """The step's scripts: (what, key whose value holds it, text)."""
    if step.run:
        yield "run:", "run", step.run
    uses = (step.uses or "").lower()
    script = step.with_.get("script")
    if uses.startswith("actions/github-script@") and isinstance(script, str):
        yield "the github-script script:", "with", script


def _injection(step: Step, finder: _Finder) -> list[Diagnostic]:
    found = []
    for what, key, script in _scripts(step):
        for written, inside in _expressions(script):
            field = _UNTRUSTED.search(inside)
            if field:
                name = re.sub(r"\s+", "", field.group(0))
                found.append(
                    _warn(
                        finder.locate(step.at(key), written),
                        f"script injection: '{name}' is untrusted input pasted into {what}",
                        f"pass it through env: (e.g. `env: VALUE: ${{{{ {name} }}}}`) and "
                        'use "$VALUE" in the script, quoted',
                    )
                )
    return found


def _secret_env_names(workflow: Workflow, job: Job, step: Step) -> set[str]:
    names = set()
    for env in (workflow.env, job.env, step.env):
        if isinstance(env, dict):
            names |= {k for k, v in env.items() if isinstance(v, str) and _SECRET.search(v)}
    return names


def _secret_in_script(
    workflow: Workflow, job: Job, step: Step, finder: _Finder
) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    if not step.run:
        return found
    for written, inside in _expressions(step.run):
        if _SECRET.search(inside):
            found.append(
                _warn(
                    finder.locate(step.at("run"), written),
                    "secret exposure: a secret is pasted into run:, so it is on the "
                    "command line and in the script file",
                    "pass it through env: (`env: TOKEN: ${{ secrets.TOKEN }}`) and let the "
                    "program read $TOKEN from its environment",
                )
            )
    for name in sorted(_secret_env_names(workflow, job, step)):
        echo = re.search(rf"\b(?:echo|printf)\b[^\n;|&]*\$(?:\{{)?{re.escape(name)}\b", step.run)
        if echo:
            found.append(
                _warn(
                    finder.locate(step.at("run"), echo.group(0)),
                    f"secret exposure: the secret in ${name} is echoed",
                    "do not print secrets: masking misses transformed values; write it "
                    "to a file the program reads, or pass it through the environment",
                )
            )
    return found


def _dangerous_checkout(step: Step, trigger: str, finder: _Finder) -> list[Diagnostic]:
    if not (step.uses or "").lower().startswith("actions/checkout@"):
        return []
    for key in ("ref", "repository"):
        value = step.with_.get(key)
        if isinstance(value, str) and _HEAD.search(value):
            return [
                _warn(
                    finder.locate(step.at("with"), value),
                    f"dangerous checkout: a {trigger} workflow checks out the pull "
                    "request's head, untrusted code that then runs with the repository's "
                    "secrets and write token",
                    "check out the base (drop `ref:`) and build untrusted code in a "
                    "separate `pull_request` workflow without secrets",
                )
            ]
    return []


def _holds_secrets(workflow: Workflow, job: Job) -> bool:
    if job.secrets:
        return True
    texts: list[object] = [*_values(workflow.env), *_values(job.env)]
    for step in job.steps:
        texts += [step.run, step.if_, *_values(step.with_), *_values(step.env)]
    return any(isinstance(t, str) and "${{" in t and _SECRET.search(t) for t in texts)


def _values(mapping: object) -> list[object]:
    return list(mapping.values()) if isinstance(mapping, dict) else [mapping]


def _unpinned(uses: str, where: Position, job: Job) -> list[Diagnostic]:
    name, _, ref = uses.strip().partition("@")
    if not ref or uses.startswith(("./", "$/", "docker://")) or _SHA.match(ref):
        return []
    if name.lower().startswith(_GITHUB_OWNED):
        return []
    return [
        _warn(
            where,
            f"unpinned action: '{uses}' runs in job '{job.id}', which holds secrets, "
            f"by the movable ref '{ref}'",
            f"pin it to a full commit SHA: `uses: {name}@<40-hex sha> # {ref}`",
        )
    ]


def _permissions(workflow: Workflow) -> list[Diagnostic]:
    found = []
    hint = "grant only what the jobs need, e.g. `permissions: {contents: read}`"
    if workflow.permissions == "write-all":
        found.append(
            _warn(
                workflow.at("permissions"),
                "excessive permissions: write-all grants the token every write scope",
                hint,
            )
        )
    for job in workflow.jobs.values():
        if job.permissions == "write-all":
            found.append(
                _warn(
                    job.at("permissions"),
                    f"excessive permissions: job '{job.id}' grants write-all",
                    hint,
                )
            )
    if workflow.permissions is None:
        deploy = next(
            (
                j
                for j in workflow.jobs.values()
                if (is_deploy_job(j) or looks_like_deploy(j)) and j.permissions is None
            ),
            None,
        )
        if deploy is not None:
            found.append(
                _warn(
                    deploy.pos,
                    f"no permissions: the workflow deploys (job '{deploy.id}') with the "
                    "default token permissions",
                    "set `permissions:` at the top of the workflow (read-only by default) "
                    "and grant writes per job",
                )
            )
    return found


__all__ = ["security_findings"]

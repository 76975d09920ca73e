"""Pitfall lint: the classic multi-stage delivery mistakes, as positioned warnings.

A workflow can be valid and still ship untested code. `lint_workflow` reads the
spec (`workflow.model`, which carries positions) and the environments of
`.stageline.yml`, and reports:

1. a production deploy that does not (transitively) need every test job;
2. a test job (or test step) with ``continue-on-error`` upstream of a deploy;
3. a deploy environment with no ``monitor`` or no ``rollback`` in `.stageline.yml`;
4. a deploy to an environment named like production without approval rules, and a
   job that looks like a deploy but names no ``environment:`` at all (it escapes every
   gate, record and monitor);
5. one job that builds, tests and deploys at once;
6. an `hmarr/auto-approve-action` step upstream of a deploy whose gate it can pass
   alone (the environment has ``allow_action: true``, no ``prevent_self_review`` and
   rules that need one approver);
7. with a team server configured (`config.configured_server`: ``server:`` in
   `.stageline.yml`, else ``$STAGELINE_SERVER``), a production-like environment whose
   approvals are not ``where: server`` (anyone at a terminal can ``--as`` a reviewer).

Heuristics, since YAML does not say what a job is for:

* a **deploy job** has an ``environment:``; a job without one whose id, name or a
  step's name has a word ``deploy``, ``deployment``, ``release``, ``rollout`` or
  ``ship`` *looks like* a deploy (and is reported for lacking the environment);
* an environment is **production-like** when a word of its name (split on
  anything not a letter or digit, case-insensitive) is ``prod``, ``production``,
  ``prd`` or ``live``, and no word is ``pre``/``preprod``/``staging``/``stage``;
* a **test job** is a job that is not a deploy job and whose id or name has a
  word among ``test(s|ing)``, ``unit``, ``integration``, ``e2e``, ``spec``,
  ``check(s)``, ``verify``, ``lint``, or one of whose steps is a test step;
* a **test step** has such a word in its name, or runs a known test command
  (``pytest``, ``npm test``, ``go test``, ``cargo test``, ``make test``, ``tox``,
  ``jest``, ``rspec``, ``mvn test``/``verify``, ``gradle test``/``check``,
  ``python -m unittest``);
* a **build step** has ``build``/``compile``/``package`` in its name or runs a
  build command (``docker build``, ``npm run build``, ``python -m build``,
  ``go build``, ``cargo build``, ``mvn package``, ``gradle build``, ``make``,
  ``tsc``, ``webpack``) or uses a ``*build*`` action.

Environment names that are expressions (``${{ inputs.env }}``) cannot be judged
and are skipped by the checks that need a name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from stageline.deploy.config import ApprovalConfig, StagelineConfig
from stageline.errors import Diagnostic, Position
from stageline.workflow.model import Job, Step, Workflow

_PRODUCTION_WORDS = frozenset({"prod", "production", "prd", "live"})
_NOT_PRODUCTION_WORDS = frozenset({"pre", "preprod", "preproduction", "staging", "stage"})
_TEST_WORDS = frozenset(
    {"test", "tests", "testing", "unit", "integration", "e2e", "spec", "specs"}
    | {"check", "checks", "verify", "lint"}
)
_TEST_COMMAND = re.compile(
    r"(^|[\s;&|(])("
    r"pytest|py\.test|tox|jest|rspec|python3? -m (pytest|unittest)"
    r"|(npm|yarn|pnpm) (run )?test|go test|cargo test|make (test|check)"
    r"|mvn (test|verify)|\./mvnw (test|verify)|gradle (test|check)|\./gradlew (test|check)"
    r")(?=$|[\s;&|)])",
    re.MULTILINE,
)
_AUTO_APPROVE = "hmarr/auto-approve-action"
_DEPLOY_WORDS = frozenset({"deploy", "deployment", "release", "rollout", "ship"})
_BUILD_WORDS = frozenset({"build", "compile", "package", "bundle"})
_BUILD_COMMAND = re.compile(
    r"(^|[\s;&|(])("
    r"docker (buildx )?build|(npm|yarn|pnpm) run build|python3? -m build|go build|cargo build"
    r"|mvn package|gradle build|\./gradlew build|tsc|webpack"
    r"|make(?=[ \t]*($|[;&|)]))|make (all|build)"
    r")(?=$|[\s;&|)])",
    re.MULTILINE,
)


def _words(text: str | None) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", (text or "").lower())) - {""}


def _literal(name: str) -> bool:
    return "${{" not in name


def is_production(environment: str) -> bool:
    words = _words(environment)
    return bool(words & _PRODUCTION_WORDS) and not words & _NOT_PRODUCTION_WORDS


def is_test_step(step: Step) -> bool:
    return bool(_words(step.name) & _TEST_WORDS) or bool(
        step.run and _TEST_COMMAND.search(step.run)
    )


def is_build_step(step: Step) -> bool:
    if _words(step.name) & _BUILD_WORDS:
        return True
    if step.uses and "build" in step.uses.split("@", 1)[0].lower():
        return True
    return bool(step.run and _BUILD_COMMAND.search(step.run))


def is_deploy_job(job: Job) -> bool:
    return job.environment is not None


def looks_like_deploy(job: Job) -> bool:
    """A job without `environment:` that deploys by its id, name or a step's name."""
    if is_deploy_job(job):
        return False
    names = _words(job.id) | _words(job.name)
    for step in job.steps:
        names |= _words(step.name)
    return bool(names & _DEPLOY_WORDS)


def is_test_job(job: Job) -> bool:
    if is_deploy_job(job):
        return False
    return bool((_words(job.id) | _words(job.name)) & _TEST_WORDS) or any(
        is_test_step(step) for step in job.steps
    )


def ancestors(workflow: Workflow, job_id: str) -> set[str]:
    """Every job `job_id` needs, directly or through others (unknown names ignored)."""
    seen: set[str] = set()
    stack = list(workflow.jobs[job_id].needs)
    while stack:
        current = stack.pop()
        if current in seen or current not in workflow.jobs:
            continue
        seen.add(current)
        stack.extend(workflow.jobs[current].needs)
    return seen


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _step_label(step: Step) -> str:
    first_line = (step.run or "").strip().split("\n", 1)[0]
    return step.name or first_line or step.uses or f"#{step.index + 1}"


def _enabled(flag: bool | str) -> bool:
    """continue-on-error as written: true, or an expression that may be true."""
    return flag is True or (isinstance(flag, str) and flag.strip().lower() != "false")


def is_auto_approve(step: Step) -> bool:
    return step.uses is not None and step.uses.split("@", 1)[0].strip().lower() == _AUTO_APPROVE


def action_passes_alone(approval: ApprovalConfig | None) -> bool:
    """Whether an `hmarr/auto-approve-action` approval alone passes the gate (`gates`)."""
    return (
        approval is not None
        and approval.allow_action
        and not approval.prevent_self_review
        and approval.where != "server"
        and bool(approval.rules)
        and all(rule.required <= 1 for rule in approval.rules)
    )


def lint_workflow(
    workflow: Workflow, config: StagelineConfig, *, server: str | None = None
) -> list[Diagnostic]:
    """Warnings for `workflow` (in file order); environments come from `config`;
    `server`: the team server configured for the repository, if any."""
    found: list[Diagnostic] = []

    def warn(where: Position, message: str, hint: str) -> None:
        found.append(Diagnostic(where, message, "warning", hint))

    deploys = [job for job in workflow.jobs.values() if is_deploy_job(job)]
    tests = [job.id for job in workflow.jobs.values() if is_test_job(job)]
    upstream_of_deploys: set[str] = set()
    for job in deploys:
        upstream_of_deploys |= ancestors(workflow, job.id)

    judged_envs: set[str] = set()
    file_name = Path(config.path).name
    for job in deploys:
        assert job.environment is not None
        env_name = job.environment.name
        env_at = job.at("environment")
        upstream = ancestors(workflow, job.id)
        production = _literal(env_name) and is_production(env_name)

        if production:
            missing = [t for t in tests if t not in upstream]
            if missing:
                warn(
                    job.at("needs"),
                    f"production deploy '{job.id}' does not need test job(s) {_quoted(missing)}",
                    f"add them to needs: (directly or through a job that needs them), so a "
                    f"failing test stops the deploy to '{env_name}'",
                )
            elif not tests and not any(is_test_step(s) for s in job.steps):
                warn(
                    job.pos,
                    f"production deploy '{job.id}' runs without any test job before it",
                    "add a test job and list it under needs:",
                )

        if _literal(env_name) and action_passes_alone(config.environment(env_name).approval):
            for source in sorted(upstream):
                for step in workflow.jobs[source].steps:
                    if is_auto_approve(step):
                        warn(
                            step.at("uses"),
                            f"{step.uses} in job '{source}' can approve deploy '{job.id}' to "
                            f"'{env_name}' by itself",
                            f"environments.{env_name}.approval in {file_name} allows the action "
                            "and needs one approver: require 2, set prevent_self_review, or "
                            "remove allow_action",
                        )

        if not _literal(env_name) or env_name in judged_envs:
            continue
        judged_envs.add(env_name)
        env = config.environment(env_name)
        where_cfg = f"in {file_name}" if env_name in config.environments else "(not configured)"
        if env.monitor is None:
            warn(
                env_at,
                f"environment '{env_name}' has no monitor {where_cfg}",
                f"add environments.{env_name}.monitor with health checks, so a bad deploy "
                "is caught after it goes out",
            )
        if env.rollback is None:
            warn(
                env_at,
                f"environment '{env_name}' has no rollback {where_cfg}",
                f"add environments.{env_name}.rollback: {{mode: auto}} (or manual, or a run: "
                "script)",
            )
        if production and (env.approval is None or not env.approval.rules):
            warn(
                env_at,
                f"deploys to '{env_name}' need no approval",
                f"add environments.{env_name}.approval.rules in {file_name}",
            )
        if production and server and (env.approval is None or env.approval.where != "server"):
            warn(
                env_at,
                f"deploys to '{env_name}' can be approved at any terminal although a team "
                f"server is configured ({server})",
                f"add environments.{env_name}.approval.where: server in {file_name}, so only "
                "decisions authenticated by the server count",
            )

    for job in workflow.jobs.values():
        if looks_like_deploy(job):
            target = (
                "production" if is_production(f"{job.id} {job.name or ''}") else "an environment"
            )
            warn(
                job.pos,
                f"job '{job.id}' looks like a deploy to {target} but has no environment:",
                "add environment: <name>, so the deploy passes that environment's gate and is "
                "recorded, monitored and can be rolled back",
            )

    for test_id in tests:
        if test_id not in upstream_of_deploys:
            continue
        test = workflow.jobs[test_id]
        if _enabled(test.continue_on_error):
            warn(
                test.at("continue-on-error"),
                f"test job '{test_id}' has continue-on-error and a deploy depends on it",
                "a failing test will not stop the deploy; remove continue-on-error",
            )
        for step in test.steps:
            if is_test_step(step) and _enabled(step.continue_on_error):
                warn(
                    step.at("continue-on-error"),
                    f"test step '{_step_label(step)}' of job '{test_id}' has "
                    "continue-on-error and a deploy depends on it",
                    "a failing test will not stop the deploy; remove continue-on-error",
                )

    for job in deploys:
        builds = any(is_build_step(s) for s in job.steps)
        tested = any(is_test_step(s) for s in job.steps)
        if builds and tested:
            warn(
                job.pos,
                f"job '{job.id}' builds, tests and deploys at once",
                "split it into build, test and deploy jobs joined by needs:, passing the "
                "build as an artifact, so what was tested is what is deployed",
            )

    return sorted(found, key=lambda d: (d.position.line, d.position.col) if d.position else (0, 0))


__all__ = [
    "action_passes_alone",
    "ancestors",
    "is_auto_approve",
    "is_build_step",
    "is_deploy_job",
    "is_production",
    "is_test_job",
    "is_test_step",
    "lint_workflow",
    "looks_like_deploy",
]

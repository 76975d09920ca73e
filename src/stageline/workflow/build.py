"""Composed YAML → the spec model (`workflow.model`), checking shapes on the way.

One pass builds the dataclasses and reports, with positions, unknown keys (with a
did-you-mean), wrong types, malformed steps and every expression that uses a
context or function its key may not use. Cross-references (``needs``, cycles,
matrices, filters) are `workflow.validate`'s job, on the built model.

`positions` of each node maps a key as written to its value's position, and also
the items of collections that later stages point into: ``needs[1]``,
``branches[0]``, ``types[2]``, ``cron[0]``, ``env.NAME``, ``with.NAME``,
``outputs.NAME`` and ``matrix.KEY``.
"""

from __future__ import annotations

import re
from typing import Any

from stageline.errors import Position
from stageline.workflow.fields import Fields, did_you_mean, is_expression
from stageline.workflow.model import (
    Concurrency,
    EnvironmentRef,
    Job,
    RunDefaults,
    Step,
    Strategy,
    Workflow,
)
from stageline.workflow.triggers import Triggers
from stageline.workflow.yamlsrc import NULL, MappingNode, Node, ScalarNode, Source

WORKFLOW_KEYS = (
    "name", "description", "run-name", "on", "permissions", "env", "defaults", "concurrency",
    "jobs",
)  # fmt: skip
JOB_KEYS = (
    "name", "permissions", "needs", "if", "runs-on", "snapshot", "environment", "concurrency",
    "outputs", "env", "defaults", "steps", "timeout-minutes", "strategy", "continue-on-error",
    "container", "services", "uses", "with", "secrets",
)  # fmt: skip
STEP_KEYS = (
    "id", "if", "name", "uses", "run", "shell", "with", "env", "working-directory",
    "continue-on-error", "timeout-minutes",
)  # fmt: skip
#: Step keys that only a `run` step, or only a `uses` step, may have.
_RUN_STEP_ONLY = ("shell", "working-directory")
_USES_STEP_ONLY = ("with",)
#: Job keys that belong to a reusable-workflow call, or to a job that runs steps.
_CALL_ONLY = ("with", "secrets")
_STEPS_ONLY = ("runs-on", "steps", "environment", "outputs", "env", "defaults", "container",
               "services", "timeout-minutes", "snapshot", "continue-on-error")  # fmt: skip

_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_ID_HINT = "ids start with a letter or '_' and contain only letters, digits, '-' and '_'"
ENVIRONMENT_KEYS = ("name", "url", "deployment")
CONCURRENCY_KEYS = ("group", "cancel-in-progress", "queue")
STRATEGY_KEYS = ("matrix", "fail-fast", "max-parallel")
DEFAULTS_RUN_KEYS = ("shell", "working-directory")
RUNS_ON_KEYS = ("group", "labels")
CONTAINER_KEYS = ("image", "options", "env", "ports", "volumes", "credentials")
SERVICE_KEYS = (*CONTAINER_KEYS, "entrypoint", "command")
CREDENTIALS_KEYS = ("username", "password")
QUEUE_MODES = ("single", "max")
_SHELLS = ("bash", "pwsh", "python", "sh", "cmd", "powershell")
_ANY = ("read", "write", "none")
#: Each scope of `permissions:` and the levels GitHub's schema allows for it.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "actions": _ANY, "artifact-metadata": _ANY, "attestations": _ANY, "checks": _ANY,
    "code-quality": _ANY, "contents": _ANY, "copilot-requests": ("write", "none"),
    "deployments": _ANY, "discussions": _ANY, "drives": _ANY, "id-token": ("write", "none"),
    "issues": _ANY, "models": ("read", "none"), "packages": _ANY, "pages": _ANY,
    "pull-requests": _ANY, "repository-projects": _ANY, "security-events": _ANY,
    "statuses": _ANY, "vulnerability-alerts": ("read", "none"),
}  # fmt: skip
_LOCAL_LABELS = ("self-hosted", "linux", "x64", "arm64")
_J = "jobs.<job_id>"
_S = "jobs.<job_id>.steps"


class Builder:
    """Builds one `Workflow` from a composed document, collecting diagnostics in the
    `Source`."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.f = Fields(source)

    # --- workflow -----------------------------------------------------------------

    def workflow(self, root: Node | None) -> Workflow:
        f = self.f
        path = self.source.path
        workflow = Workflow(Position(path), path=path)
        if root is None:
            f.error(
                Position(path), "the workflow file is empty", "a workflow needs `on` and `jobs`"
            )
            return workflow
        mapping = f.mapping(root, "the workflow")
        if mapping is None:
            return workflow
        workflow.pos = f.pos(root)
        positions = workflow.positions
        seen: set[str] = set()
        for key, _, value in f.entries(mapping, WORKFLOW_KEYS, "the workflow"):
            seen.add(key)
            positions[key] = f.pos(value)
            if key == "name":
                workflow.name = f.optional_string(value, "name")
            elif key == "description":
                f.optional_string(value, "description")
            elif key == "run-name":
                workflow.run_name = f.optional_string(value, "run-name", "run-name")
            elif key == "on":
                workflow.on = Triggers(f).read(value)
            elif key == "permissions":
                workflow.permissions = self._permissions(value, "permissions")
            elif key == "env":
                env = f.env(value, "env", "env", "env", positions, allow_expression=False)
                workflow.env = env if isinstance(env, dict) else {}
            elif key == "defaults":
                workflow.defaults = self._defaults(value, "defaults", "defaults.run")
            elif key == "concurrency":
                workflow.concurrency = self._concurrency(value, "concurrency")
            else:
                workflow.jobs = self._jobs(value)
        for required in ("on", "jobs"):
            if required not in seen:
                f.error(workflow.pos, f"the workflow has no `{required}`", _REQUIRED[required])
        return workflow

    def _jobs(self, node: Node) -> dict[str, Job]:
        f = self.f
        jobs: dict[str, Job] = {}
        mapping = f.mapping(node, "jobs")
        if mapping is None:
            return jobs
        if not mapping.value:
            f.error(node, "`jobs` is empty", "a workflow needs at least one job")
        for job_id, key_node, value in f.items(mapping):
            if not _ID.match(job_id):
                f.error(key_node, f"invalid job id '{job_id}'", _ID_HINT)
            jobs[job_id] = self._job(job_id, key_node, value)
        return jobs

    # --- jobs ---------------------------------------------------------------------

    def _job(self, job_id: str, key_node: Node, node: Node) -> Job:
        f = self.f
        job = Job(f.pos(key_node), id=job_id)
        mapping = f.mapping(node, f"jobs.{job_id}")
        if mapping is None:
            return job
        positions = job.positions
        where = f"job '{job_id}'"
        present: dict[str, ScalarNode] = {}
        keys = {str(k.value) for k, _ in mapping.value}
        for key, knode, value in f.entries(mapping, JOB_KEYS, where):
            present[key] = knode
            positions[key] = f.pos(value)
            what = f"jobs.{job_id}.{key}"
            if key == "name":
                job.name = f.optional_string(value, what, f"{_J}.name")
            elif key == "permissions":
                job.permissions = self._permissions(value, what)
            elif key == "needs":
                needs = f.strings(value, what, positions, "needs", f"{_J}.needs", non_empty=True)
                job.needs = needs or []
            elif key == "if":
                job.if_ = f.condition(value, what, f"{_J}.if")
            elif key == "runs-on":
                job.runs_on = self._runs_on(value, what)
            elif key == "environment":
                job.environment = self._environment(value, what)
            elif key == "concurrency":
                job.concurrency = self._concurrency(value, what, f"{_J}.concurrency")
            elif key == "outputs":
                job.outputs = self._outputs(value, what, positions)
            elif key == "env":
                job.env = f.env(value, "env", what, f"{_J}.env", positions) or {}
            elif key == "defaults":
                job.defaults = self._defaults(value, what, f"{_J}.defaults.run")
            elif key == "steps":
                job.steps = self._steps(job_id, value)
            elif key == "timeout-minutes":
                job.timeout_minutes = f.number(value, what, f"{_J}.timeout-minutes")
            elif key == "strategy":
                job.strategy = self._strategy(value, what)
            elif key == "continue-on-error":
                job.continue_on_error = f.flag(value, what, f"{_J}.continue-on-error") or False
            elif key == "container":
                job.container = self._container(value, what)
            elif key == "services":
                job.services = self._services(value, what, in_container="container" in keys)
            elif key == "uses":
                job.uses = f.string(value, what, f"{_J}.uses")
            elif key == "with":
                job.with_ = f.env(value, "with", what, f"{_J}.with.<with_id>", positions) or {}
            elif key == "secrets":
                job.secrets = self._job_secrets(value, what)
            else:  # snapshot
                f.warn(value, "`snapshot` (custom runner images) is not supported; it is ignored")
        self._job_shape(job, present)
        return job

    def _job_shape(self, job: Job, present: dict[str, ScalarNode]) -> None:
        """A job either runs steps or calls a reusable workflow, never both."""
        f = self.f
        if "uses" in present:
            for key in _STEPS_ONLY:
                if key in present:
                    f.error(
                        present[key],
                        f"`{key}` cannot be used in a job that calls a reusable workflow "
                        f"(job '{job.id}')",
                    )
            return
        for key in _CALL_ONLY:
            if key in present:
                f.error(present[key], f"`{key}` is only valid with a job-level `uses`")
        if "runs-on" not in present:
            f.error(job.pos, f"job '{job.id}' has no `runs-on`", "add `runs-on: ubuntu-latest`")
        if "steps" not in present:
            f.error(job.pos, f"job '{job.id}' has no `steps`", "a job needs at least one step")

    def _runs_on(self, node: Node, what: str) -> Any:
        f = self.f
        expr = f"{_J}.runs-on"
        labels: list[str] = []
        value: Any = None
        if isinstance(node, MappingNode):
            value = {}
            for key, _, item in f.entries(node, RUNS_ON_KEYS, "runs-on"):
                if key == "group":
                    value["group"] = f.string(item, f"{what}.group", expr)
                else:
                    found = f.strings(item, f"{what}.labels", {}, "labels", expr, non_empty=True)
                    value["labels"] = labels = found or []
            if not value:
                f.error(node, "`runs-on` needs `group` or `labels`")
        else:
            value = f.strings(node, what, {}, "runs-on", expr, non_empty=True)
            labels = value or []
            if isinstance(value, list) and len(value) == 1 and isinstance(node, ScalarNode):
                value = value[0]
        foreign = [
            label
            for label in labels
            if not is_expression(label)
            and not label.startswith("ubuntu-")
            and label.lower() not in _LOCAL_LABELS
        ]
        if foreign:
            f.warn(
                node,
                f"runs-on {', '.join(repr(x) for x in foreign)}: Stageline runs every job on "
                "this machine, so the job runs here instead",
            )
        return value

    def _environment(self, node: Node, what: str) -> EnvironmentRef | None:
        f = self.f
        ref = EnvironmentRef(f.pos(node))
        if isinstance(node, ScalarNode) and node.tag != NULL:
            ref.name = f.string(node, what, f"{_J}.environment") or ""
            return ref
        mapping = f.mapping(node, what)
        if mapping is None:
            return None
        has_name = False
        for key, _, value in f.entries(mapping, ENVIRONMENT_KEYS, "environment"):
            ref.positions[key] = f.pos(value)
            if key == "name":
                has_name = True
                ref.name = f.string(value, f"{what}.name", f"{_J}.environment") or ""
            elif key == "url":
                ref.url = f.optional_string(value, f"{what}.url", f"{_J}.environment.url")
            elif not (isinstance(value, ScalarNode) and isinstance(f.source.scalar(value), bool)):
                f.wrong(value, f"{what}.deployment", "true or false")
        if not has_name:
            f.error(node, "`environment` needs a `name`")
        return ref

    def _concurrency(self, node: Node, what: str, expr: str = "concurrency") -> Concurrency | None:
        f = self.f
        result = Concurrency(f.pos(node))
        if isinstance(node, ScalarNode) and node.tag != NULL:
            result.group = f.string(node, what, expr) or ""
            return result
        mapping = f.mapping(node, what)
        if mapping is None:
            return None
        has_group = False
        for key, _, value in f.entries(mapping, CONCURRENCY_KEYS, "concurrency"):
            result.positions[key] = f.pos(value)
            if key == "group":
                has_group = True
                result.group = f.string(value, f"{what}.group", expr) or ""
            elif key == "queue":
                mode = f.string(value, f"{what}.queue")
                if mode is not None and mode not in QUEUE_MODES:
                    f.error(value, f"`{what}.queue` must be single or max, got '{mode}'")
            else:
                flag = f.flag(value, f"{what}.cancel-in-progress", expr)
                result.cancel_in_progress = False if flag is None else flag
        if not has_group:
            f.error(node, "`concurrency` needs a `group`")
        return result

    def _outputs(self, node: Node, what: str, positions: dict[str, Position]) -> dict[str, str]:
        f = self.f
        outputs: dict[str, str] = {}
        mapping = f.mapping(node, what)
        for name, key_node, value in f.items(mapping) if mapping else ():
            if not _ID.match(name):
                f.error(key_node, f"invalid output id '{name}'", _ID_HINT)
            text = f.string(value, f"{what}.{name}", f"{_J}.outputs.<output_id>")
            if text is not None:
                outputs[name] = text
                positions[f"outputs.{name}"] = f.pos(value)
        return outputs

    def _defaults(self, node: Node, what: str, expr: str) -> RunDefaults | None:
        f = self.f
        mapping = f.mapping(node, what)
        if mapping is None:
            return None
        defaults: RunDefaults | None = None
        for _, _, run in f.entries(mapping, ("run",), what):
            run_map = f.mapping(run, f"{what}.run")
            if run_map is None:
                continue
            defaults = RunDefaults(f.pos(run))
            for key, _, value in f.entries(run_map, DEFAULTS_RUN_KEYS, f"{what}.run"):
                defaults.positions[key] = f.pos(value)
                text = f.optional_string(value, f"{what}.run.{key}", expr)
                if key == "shell":
                    defaults.shell = text
                    self._shell(value, text)
                else:
                    defaults.working_directory = text
        return defaults

    def _strategy(self, node: Node, what: str) -> Strategy | None:
        f = self.f
        expr = f"{_J}.strategy"
        mapping = f.mapping(node, what)
        if mapping is None:
            return None
        strategy = Strategy(f.pos(node))
        for key, _, value in f.entries(mapping, STRATEGY_KEYS, what):
            strategy.positions[key] = f.pos(value)
            if key == "fail-fast":
                flag = f.flag(value, f"{what}.fail-fast", expr)
                strategy.fail_fast = True if flag is None else flag
            elif key == "max-parallel":
                number = f.number(value, f"{what}.max-parallel", expr, integer=True)
                strategy.max_parallel = number  # type: ignore[assignment]
            else:
                strategy.matrix = self._matrix(value, f"{what}.matrix", strategy.positions)
        return strategy

    def _matrix(
        self, node: Node, what: str, positions: dict[str, Position]
    ) -> dict[str, Any] | str | None:
        f = self.f
        expr = f"{_J}.strategy"
        if isinstance(node, ScalarNode) and node.tag != NULL:
            text = f.string(node, what, expr)
            if text is not None and not is_expression(text):
                f.wrong(node, what, "a mapping or a ${{ }} expression")
            return text
        mapping = f.mapping(node, what)
        if mapping is None:
            return None
        matrix: dict[str, Any] = {}
        for key, _, value in f.items(mapping):
            positions[f"matrix.{key}"] = f.pos(value)
            matrix[key] = f.plain(value, expr)
        return matrix

    def _container(self, node: Node, what: str) -> Any:
        self.f.warn(
            node,
            "`container` is not supported yet: the job's steps run on this machine, "
            "not in the container",
        )
        return self._image(node, f"{_J}.container", f"{_J}.container", CONTAINER_KEYS)

    def _services(self, node: Node, what: str, *, in_container: bool) -> dict[str, Any]:
        """A job on this machine reaches its services as mapped in `.stageline.yml`
        (`engine.services`); in a `container:` job they are not honoured."""
        f = self.f
        mapping = f.mapping(node, what)
        if mapping is None:
            return {}
        if in_container:
            f.warn(
                node,
                "`services` are not supported yet in a `container` job: "
                "the job runs without its service containers",
            )
        row = f"{_J}.services.<service_id>"
        return {
            name: self._image(value, f"{_J}.services", row, SERVICE_KEYS, f"service '{name}'")
            for name, _, value in f.items(mapping)
        }

    def _image(
        self, node: Node, expr: str, row: str, keys: tuple[str, ...], where: str = "container"
    ) -> Any:
        """A container or service as written: an image name or a mapping of the keys
        GitHub knows, whose ``credentials`` and ``env`` take the contexts GitHub
        allows there."""
        f = self.f
        if not isinstance(node, MappingNode):
            return f.plain(node, expr)
        special = {"credentials": f"{row}.credentials", "env": f"{row}.env.<env_id>"}
        found: dict[str, Any] = {}
        for key, _, value in f.entries(node, keys, where):
            if key == "credentials" and isinstance(value, MappingNode):
                f.known_keys(value, CREDENTIALS_KEYS, f"the credentials of {where}")
            found[key] = f.plain(value, special.get(key, expr))
        return found

    def _job_secrets(self, node: Node, what: str) -> dict[str, str] | str | None:
        f = self.f
        if isinstance(node, ScalarNode) and node.value == "inherit":
            return "inherit"
        if isinstance(node, MappingNode):
            found: dict[str, str] = {}
            for name, _, value in f.items(node):
                text = f.string(value, f"{what}.{name}", f"{_J}.secrets.<secret_id>")
                if text is not None:
                    found[name] = text
            return found
        f.wrong(node, what, "`inherit` or a mapping of secrets")
        return None

    def _permissions(self, node: Node, what: str) -> Any:
        f = self.f
        if isinstance(node, ScalarNode) and node.tag != NULL:
            preset = f.string(node, what, f"{_J}.permissions")
            if preset not in ("read-all", "write-all", None):
                f.error(
                    node, f"unknown permissions '{preset}'", "use read-all, write-all or a mapping"
                )
            return preset
        mapping = f.mapping(node, what)
        if mapping is None:
            return None
        result: dict[str, str] = {}
        for scope, _, value in f.entries(mapping, PERMISSIONS, what):
            level = f.string(value, f"{what}.{scope}", f"{_J}.permissions")
            if level is None:
                continue
            allowed = PERMISSIONS[scope]
            if level not in allowed:
                f.error(
                    value,
                    f"permission '{scope}' must be {_either(allowed)}, got '{level}'",
                )
            result[scope] = level
        return result

    # --- steps --------------------------------------------------------------------

    def _steps(self, job_id: str, node: Node) -> list[Step]:
        f = self.f
        steps: list[Step] = []
        sequence = f.sequence(node, f"jobs.{job_id}.steps")
        if sequence is None:
            return steps
        if not sequence.value:
            f.error(node, f"job '{job_id}' has no steps", "a job needs at least one step")
        ids: dict[str, int] = {}
        for index, item in enumerate(sequence.value):
            step = self._step(job_id, index, item)
            if step is None:
                continue
            if step.id is not None:
                if step.id in ids:
                    f.error(
                        step.at("id"),
                        f"step id '{step.id}' is already used by step {ids[step.id] + 1} "
                        f"of job '{job_id}'",
                    )
                ids.setdefault(step.id, index)
            steps.append(step)
        return steps

    def _step(self, job_id: str, index: int, node: Node) -> Step | None:
        f = self.f
        what = f"jobs.{job_id}.steps[{index}]"
        mapping = f.mapping(node, what)
        if mapping is None:
            return None
        step = Step(f.pos(node), index=index)
        positions = step.positions
        present: dict[str, ScalarNode] = {}
        for key, knode, value in f.entries(mapping, STEP_KEYS, "a step"):
            present[key] = knode
            positions[key] = f.pos(value)
            at = f"{what}.{key}"
            if key == "id":
                step.id = f.string(value, at, f"{_S}.id")
                if step.id is not None and not _ID.match(step.id):
                    f.error(value, f"invalid step id '{step.id}'", _ID_HINT)
            elif key == "if":
                step.if_ = f.condition(value, at, f"{_S}.if")
            elif key == "name":
                step.name = f.optional_string(value, at, f"{_S}.name")
            elif key == "uses":
                step.uses = f.string(value, at, f"{_S}.uses")
                self._uses(value, step.uses)
            elif key == "run":
                step.run = f.string(value, at, f"{_S}.run")
            elif key == "shell":
                step.shell = f.optional_string(value, at, f"{_S}.shell")
                self._shell(value, step.shell)
            elif key == "with":
                env = f.env(value, "with", at, f"{_S}.with", positions, allow_expression=False)
                step.with_ = env if isinstance(env, dict) else {}
            elif key == "env":
                step.env = f.env(value, "env", at, f"{_S}.env", positions) or {}
            elif key == "working-directory":
                step.working_directory = f.optional_string(value, at, f"{_S}.working-directory")
            elif key == "continue-on-error":
                step.continue_on_error = f.flag(value, at, f"{_S}.continue-on-error") or False
            else:
                step.timeout_minutes = f.number(value, at, f"{_S}.timeout-minutes")
        self._step_shape(step, mapping, present, index)
        return step

    def _step_shape(
        self, step: Step, node: MappingNode, present: dict[str, ScalarNode], index: int
    ) -> None:
        f = self.f
        if "run" in present and "uses" in present:
            f.error(
                present["uses"],
                f"step {index + 1} has both `run` and `uses`",
                "a step either runs a command or uses an action; split it into two steps",
            )
            return
        if "run" not in present and "uses" not in present:
            written = [k.value for k, _ in node.value if isinstance(k, ScalarNode)]
            guesses = (did_you_mean(k, ("run", "uses")) for k in written if k not in present)
            guess = next((g for g in guesses if g), None)
            f.error(
                node,
                f"step {index + 1} has neither `run` nor `uses`",
                f"did you mean '{guess}'?" if guess else "add `run:` (a command) or `uses:`",
            )
            return
        wrong = _USES_STEP_ONLY if "run" in present else _RUN_STEP_ONLY
        kind = "`run`" if "run" in present else "`uses`"
        for key in wrong:
            if key in present:
                f.error(present[key], f"`{key}` cannot be used in a step with {kind}")

    def _uses(self, node: Node, uses: str | None) -> None:
        if uses is None or uses.startswith(("./", "$/", "docker://")):
            return
        name, at, ref = uses.partition("@")
        if not at or not ref or name.count("/") < 1 or not all(name.split("/")):
            self.f.error(
                node,
                f"invalid action reference '{uses}'",
                "write OWNER/REPO@REF (or OWNER/REPO/PATH@REF), ./PATH for a local action, "
                "or docker://IMAGE",
            )

    def _shell(self, node: Node, shell: str | None) -> None:
        if shell is None or is_expression(shell) or shell.lower() in _SHELLS or "{0}" in shell:
            return
        self.f.error(
            node,
            f"unknown shell '{shell}'",
            f"use one of {', '.join(_SHELLS)}, or a custom command with {{0}} for the script",
        )


def _either(words: tuple[str, ...]) -> str:
    """``a, b or c``."""
    return f"{', '.join(words[:-1])} or {words[-1]}"


_REQUIRED = {
    "on": "add the events that trigger it, e.g. `on: push`",
    "jobs": "add `jobs:` with at least one job",
}

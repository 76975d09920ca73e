"""Run setup: from the repository and the command line to `RunSpec`s, before anything runs.

Everything that can be wrong is found here, so a run never starts half-valid:
workflow files are loaded and validated, the event is matched against each
workflow's `on:` (with the reason when none matches), plans are compiled and
every `uses:` is checked against what this machine can run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stageline.engine.context import ref_parts
from stageline.engine.gitinfo import GitFacts, changed_paths, git_facts
from stageline.engine.scheduler import RunSpec
from stageline.engine.services import HostService, resolve_services
from stageline.errors import ConfigError, Diagnostic, RunError, StagelineError, WorkflowError
from stageline.plan.model import Event, Plan
from stageline.workflow.inputs import input_text, typed_values
from stageline.workflow.model import Workflow


@dataclass(slots=True)
class RunOptions:
    """The command line of `stageline run`, parsed."""

    cwd: Path
    workflow: str | None = None
    jobs: list[str] = field(default_factory=list)
    event: str | None = None
    event_path: Path | None = None
    ref: str | None = None
    actor: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    env_file: Path | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    secret_file: Path | None = None
    #: `--matrix KEY:VALUE`, each key with the values any of which a leg may have.
    matrix: dict[str, list[str]] = field(default_factory=dict)
    keep_workspaces: bool = False
    #: `-W`: a workflow file, or a directory of them, instead of the repository's.
    workflows: Path | None = None
    #: Reads the repository's services mapped in `.stageline.yml` (none when unset).
    service_hosts: Callable[[Path], Mapping[str, HostService]] | None = None
    #: The paths a push changed when its sender says (a webhook lists every pushed
    #: commit's); None: those of the pushed commit, as git shows them.
    changed_paths: list[str] | None = None


@dataclass(slots=True)
class Prepared:
    """The runs to start, and what was decided for each workflow file (for the user)."""

    facts: GitFacts
    event: Event
    specs: list[RunSpec]
    notes: list[str]


def parse_pairs(values: Sequence[str], option: str, sep: str = "=") -> dict[str, str]:
    """`k=v` (or `k:v`) options into a dict; the value may contain the separator."""
    pairs: dict[str, str] = {}
    for value in values:
        key, found, rest = value.partition(sep)
        if not found or not key.strip():
            raise ConfigError(
                f"{option} expects KEY{sep}VALUE, got {value!r}",
                hint=f"for example {option} name{sep}value",
            )
        pairs[key.strip()] = rest
    return pairs


def parse_matrix(values: Sequence[str]) -> dict[str, list[str]]:
    """`--matrix KEY:VALUE` options; as in act, a key given again adds a value it may have."""
    wanted: dict[str, list[str]] = {}
    for value in values:
        for key, text in parse_pairs([value], "--matrix", ":").items():
            wanted.setdefault(key, []).append(text)
    return wanted


def read_dotenv(path: Path, what: str) -> dict[str, str]:
    """A `.env`/`.secrets` file, read as act reads them (dotenv format)."""
    from dotenv import dotenv_values

    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    return {k: v or "" for k, v in dotenv_values(path).items()}


@dataclass(frozen=True, slots=True)
class RunEnvironment:
    """What a job gets from the repository and the command line besides its plan."""

    secrets: dict[str, str] = field(repr=False)
    extra_env: dict[str, str]
    action_dirs: list[str]


def run_environment(
    root: Path,
    *,
    secret_file: Path | None = None,
    env_file: Path | None = None,
    secrets: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> RunEnvironment:
    """Secrets, extra environment and action directories as `stageline run` gives its
    jobs: the dotenv files (default `.secrets` and `.env` of the repository, read when
    present), then the command line's pairs over them. A resume and a rollback, which
    re-run jobs of an earlier run, rebuild them here the same way."""
    found_secrets: dict[str, str] = {}
    secrets_path = secret_file or (root / ".secrets")
    if secret_file or secrets_path.is_file():
        found_secrets.update(read_dotenv(secrets_path, "secret file"))
    found_secrets.update(secrets or {})
    found_env: dict[str, str] = {}
    env_path = env_file or (root / ".env")
    if env_file or env_path.is_file():
        found_env.update(read_dotenv(env_path, "env file"))
    found_env.update(env or {})
    return RunEnvironment(found_secrets, found_env, [str(root / ".stageline" / "actions")])


def _full_ref(ref: str) -> str:
    if ref.startswith("refs/"):
        return ref
    return f"refs/heads/{ref}"


def _payload(options: RunOptions) -> dict[str, Any]:
    if options.event_path is None:
        return {}
    try:
        data = json.loads(options.event_path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"cannot read the event payload {options.event_path}: {err}",
            hint="-e is --eventpath (a JSON payload), as in act; the event name is --event",
        ) from err
    if not isinstance(data, dict):
        raise ConfigError(f"the event payload {options.event_path} is not a JSON object")
    return data


def _given_inputs(options: RunOptions, payload: Mapping[str, Any]) -> dict[str, str]:
    """The inputs as given, in text: the payload's `inputs` object, `--input` over it."""
    found = payload.get("inputs")
    given = {}
    if isinstance(found, Mapping):
        given = {str(k): input_text(v) for k, v in found.items()}
    given.update(options.inputs)
    return given


def build_event(options: RunOptions, facts: GitFacts) -> Event:
    """The triggering event, defaulting to a push of the current branch and commit."""
    name = options.event or "push"
    payload = _payload(options)
    inputs = _given_inputs(options, payload)
    ref = options.ref or (payload.get("ref") if isinstance(payload.get("ref"), str) else None)
    ref = _full_ref(ref) if ref else facts.ref
    sha = facts.sha
    owner, _, repo_name = facts.repository.partition("/")
    repository = {"full_name": facts.repository, "name": repo_name, "owner": {"login": owner}}
    payload.setdefault("repository", repository)
    payload.setdefault("sender", {"login": options.actor or facts.actor})
    if name == "push":
        payload.setdefault("ref", ref)
        payload.setdefault("after", sha)
        payload.setdefault("head_commit", {"id": sha})
    elif name in ("pull_request", "pull_request_target"):
        branch, _ = ref_parts(facts.ref)
        pull = payload.setdefault("pull_request", {})
        pull.setdefault("head", {"ref": branch, "sha": sha})
        pull.setdefault("base", {"ref": facts.default_branch})
        number = payload.setdefault("number", pull.get("number", 1))
        payload.setdefault("action", "opened")
        if not options.ref:
            ref = f"refs/pull/{number}/merge"
    elif name == "workflow_dispatch":
        payload.setdefault("ref", ref)
        payload["inputs"] = dict(inputs)
    return Event(
        name=name,
        ref=ref,
        sha=sha,
        payload=payload,
        changed_paths=_changed(options, facts.root, sha) if name == "push" else None,
        actor=options.actor or facts.actor,
        repository=facts.repository,
        inputs=inputs,
    )


def _changed(options: RunOptions, root: Path, sha: str) -> list[str] | None:
    if options.changed_paths is not None:
        return list(options.changed_paths)
    return changed_paths(root, sha)


class NothingToRun(RunError):
    """No workflow runs on the event (or there is none): a reason, not a fault."""


def _candidates(root: Path, options: RunOptions) -> list[Path]:
    """The workflow files to consider: those of the repository, or of `-W` (a file or
    a directory, searched below as act does), narrowed to the one `workflow` names."""
    from stageline.workflow import find_workflows

    workflow, cwd = options.workflow, options.cwd
    if options.workflows is not None:
        given = options.workflows if options.workflows.is_absolute() else cwd / options.workflows
        if given.is_file():
            found = [given.resolve()]
        elif given.is_dir():
            found = sorted(p.resolve() for p in given.rglob("*") if p.suffix in (".yml", ".yaml"))
        else:
            raise RunError(f"-W {options.workflows}: no such file or directory")
        where = str(options.workflows)
    else:
        found = find_workflows(root)
        where = str(root / ".github" / "workflows")
    if workflow is None:
        if not found:
            raise NothingToRun(
                f"no workflow files in {where}",
                hint="add a workflow file (.yml) there, or name one: stageline run PATH",
            )
        return found
    if options.workflows is None:
        for base in (cwd, root):
            path = (base / workflow).resolve()
            if path.is_file():
                return [path]
    named = [p for p in found if workflow in (p.name, p.stem)]
    if named:
        return named
    listed = ", ".join(p.name for p in found) or "(none)"
    raise RunError(f"no workflow {workflow!r}", hint=f"workflows here: {listed}")


_TYPED_INPUTS = ("workflow_dispatch", "workflow_call")


def typed_inputs(workflow: Workflow, event: Event) -> dict[str, Any]:
    """The `inputs` context of `workflow` on `event`: the given inputs over the declared
    defaults, typed as `workflow.inputs.typed_values` types them. Only `workflow_dispatch`
    and `workflow_call` declare inputs; other events pass the given ones through as
    text. Raises `RunError` for a value its type refuses."""
    trigger = workflow.on.get(event.name) if event.name in _TYPED_INPUTS else None
    spec = trigger.config.get("inputs") if trigger is not None else None
    declared = spec if isinstance(spec, Mapping) else {}
    return typed_values(declared, event.inputs, workflow.path)


def _check_uses(plan: Plan, root: Path, action_dirs: list[str]) -> list[Diagnostic]:
    problems = []
    for job in plan.jobs:
        for step in job.steps:
            if step.uses:
                from stageline.runner.actions import check_uses  # only when a step uses one

                message = check_uses(step.uses, str(root), action_dirs)
                if message:
                    problems.append(Diagnostic(step.position, message))
    return problems


def _workflow_env(
    plan: Plan, contexts: Mapping[str, Any], given: Mapping[str, str]
) -> dict[str, Any]:
    """The `env` context of the run: the workflow's `env` evaluated (expression keys and
    `${{ insert }}` included), over the `--env` and `--env-file` values (as act layers
    them: the workflow's own wins on a clash)."""
    from stageline.expressions import evaluate_template
    from stageline.expressions.mappings import evaluate_keys

    scope = {**contexts, "env": dict(given)}

    def value(item: Any) -> Any:
        return evaluate_template(item, scope) if isinstance(item, str) else item

    return {**given, **evaluate_keys(plan.env, value, value)}


@dataclass(slots=True)
class Selected:
    """The workflow files that take part, loaded and valid, before any plan."""

    facts: GitFacts
    event: Event
    workflows: list[Workflow]
    notes: list[str]
    #: The reusable workflows each selected workflow calls, by `uses:` (per path).
    callees: dict[str, dict[str, Workflow]] = field(default_factory=dict)


def fetch_workflow(
    uses: str, *, refresh: bool = False, cache_only: bool = False
) -> Path | str | None:
    """A remote reusable workflow's file, fetched into the action cache as remote actions
    are (`runner.actions.remote`: `STAGELINE_ACTIONS_URL`, offline), or why it cannot be
    had; None when `cache_only` and it is not cached."""
    from stageline.runner.actions import remote

    ref = remote.parse(uses)
    if ref is None:
        return f"'{uses}' is not OWNER/REPO/PATH@REF"
    try:
        found = remote.fetch(ref, refresh=refresh, cache_only=cache_only)
    except remote.FetchError as err:
        if cache_only:
            return None
        return str(err).replace(f"action '{uses}'", "it")
    path = Path(found.directory)
    if not path.is_file():
        return f"no {ref.sub} at {ref.ref} in {ref.url}"
    return path


def select(options: RunOptions, *, every: bool = False) -> Selected:
    """Find, load and validate the workflows to run, and match them against the event
    (raises before any run). `every` keeps every workflow whatever its `on:` (as
    `act -l` lists them when no event is named)."""
    from stageline.workflow import load_workflow
    from stageline.workflow.calls import load_callees
    from stageline.workflow.filters import matches

    facts = git_facts(options.cwd)
    event = build_event(options, facts)
    selected: list[Workflow] = []
    notes: list[str] = []
    errors: list[Diagnostic] = []
    callees: dict[str, dict[str, Workflow]] = {}
    for path in _candidates(facts.root, options):
        shown = _relative(path, facts.root)
        try:
            workflow = load_workflow(shown, text=_read(path))
        except WorkflowError as err:
            errors.extend(err.diagnostics)
            continue
        called = load_callees(workflow, facts.root, fetch_workflow)
        errors.extend(d for d in called.faults if d.severity == "error")
        callees[workflow.path] = called.workflows
        runs, reason = (True, "listed") if every else matches(workflow, event)
        notes.append(f"{shown}: {reason}")
        if runs and (not options.jobs or all(j in workflow.jobs for j in options.jobs)):
            selected.append(workflow)
        elif runs:
            missing = ", ".join(j for j in options.jobs if j not in workflow.jobs)
            notes[-1] = f"{shown}: has no job {missing}"
    if errors:
        raise WorkflowError(errors)
    if not selected:
        branch = ref_parts(event.ref)[0] or event.sha[:12]
        raise NothingToRun(
            f"no workflow runs on {event.name} to {branch}:\n  " + "\n  ".join(notes),
            hint="choose another event or ref (--event, --ref), or name a workflow",
        )
    return Selected(facts, event, selected, notes, callees)


def prepare(options: RunOptions) -> Prepared:
    """Select the workflows to run and compile their plans (raises before any run)."""
    from stageline.plan.compile import compile_plan, event_contexts

    chosen = select(options)
    facts, event, selected, notes = chosen.facts, chosen.event, chosen.workflows, chosen.notes
    given = run_environment(
        facts.root,
        secret_file=options.secret_file,
        env_file=options.env_file,
        secrets=options.secrets,
        env=options.env,
    )
    secrets, extra_env, action_dirs = given.secrets, given.extra_env, given.action_dirs
    read_hosts = options.service_hosts
    hosts = functools.cache(lambda: read_hosts(facts.root) if read_hosts else {})
    errors: list[Diagnostic] = []
    specs: list[RunSpec] = []
    for workflow in selected:
        inputs = typed_inputs(workflow, event)
        own = _dispatched(event, inputs)
        base = event_contexts(own)
        base["github"].update(_github_extras(own))
        base["inputs"] = inputs
        base["vars"] = dict(options.vars)
        plan = compile_plan(
            workflow,
            own,
            contexts=base,
            only_jobs=options.jobs or None,
            matrix_filter=options.matrix or None,
            callees=chosen.callees.get(workflow.path),
        )
        problems = _check_uses(plan, facts.root, action_dirs)
        problems += resolve_services(plan, workflow, hosts)
        if problems:
            errors.extend(problems)
            continue
        contexts: dict[str, Any] = {"vars": base["vars"], "inputs": base["inputs"]}
        try:
            contexts["env"] = _workflow_env(
                plan, {**contexts, "github": base["github"], "secrets": secrets}, extra_env
            )
        except StagelineError as err:
            errors.append(Diagnostic(workflow.at("env"), f"in env: {err.message}"))
            continue
        specs.append(
            RunSpec(
                plan=plan,
                repo_dir=str(facts.root),
                contexts=contexts,
                secrets=secrets,
                extra_env=extra_env,
                action_dirs=action_dirs,
                matrix_filter=options.matrix or None,
                keep_workspaces=options.keep_workspaces,
            )
        )
    if errors:
        raise WorkflowError(errors)
    return Prepared(facts, event, specs, notes)


@dataclass(frozen=True, slots=True)
class ListedJob:
    """One row of `stageline run --list` (act's `-l` table)."""

    stage: int
    job_id: str
    name: str
    workflow: str
    path: str
    events: list[str]


def list_jobs(selected: Selected) -> list[ListedJob]:
    """Every job of the selected workflows with its stage (its layer in the graph of
    `needs`, from 0), ordered by stage as `act -l` orders them."""
    from stageline.workflow.graph import layers

    rows: list[ListedJob] = []
    for workflow in selected.workflows:
        needs = {job_id: list(job.needs) for job_id, job in workflow.jobs.items()}
        for stage, job_ids in enumerate(layers(needs)):
            for job_id in job_ids:
                job = workflow.jobs[job_id]
                rows.append(
                    ListedJob(
                        stage,
                        job_id,
                        job.name or job_id,
                        workflow.display_name,
                        workflow.path,
                        list(workflow.on),
                    )
                )
    return sorted(rows, key=lambda row: row.stage)


def _dispatched(event: Event, inputs: Mapping[str, Any]) -> Event:
    """A `workflow_dispatch` event as this workflow sees it: `github.event.inputs` has
    every input, defaults included, as text (as GitHub gives them)."""
    if event.name != "workflow_dispatch":
        return event
    payload = {**event.payload, "inputs": {k: input_text(v) for k, v in inputs.items()}}
    return dataclasses.replace(event, payload=payload)


def _github_extras(event: Event) -> dict[str, Any]:
    ref_name, ref_type = ref_parts(event.ref)
    owner = event.repository.split("/", 1)[0]
    return {"ref_name": ref_name, "ref_type": ref_type, "repository_owner": owner}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RunError(f"cannot read {path}: {err}") from err


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)

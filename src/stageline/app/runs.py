"""Start, resume and cancel runs.

Starting is two calls, so a face can show what was decided before anything runs:
`prepare` finds, validates and compiles the workflows (raising before any run
starts), `start` runs them. `start` and `resume` share one start-up sequence
(`drive`): open the record, choose the executor, wire the delivery hooks when the
runs need them, run the engine in one event loop, close the hooks. Ctrl-C and
SIGTERM/SIGHUP cancel the runs; their record is completed all the same, and the exit code
says so (128 + the signal number).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from stageline.app import context
from stageline.errors import RunError

if TYPE_CHECKING:
    from stageline.engine.events import Observer
    from stageline.engine.execute import Execution
    from stageline.engine.scheduler import RunSpec
    from stageline.engine.services import HostService
    from stageline.engine.setup import ListedJob, Prepared, RunOptions
    from stageline.executors.base import Executor
    from stageline.store import RunDetail
    from stageline.workflow.model import Workflow

#: Makes a run's own observer (a terminal view), or None for none.
ObserverFor = Callable[["RunSpec"], "Observer | None"]
#: Told what an operation is doing while it does it (one line each).
Say = Callable[[str], None]

#: Actions that never involve delivery (`hmarr/auto-approve-action` records an approval;
#: a local or vendored action may use it inside).
_PLAIN_ACTIONS = frozenset(
    {
        "actions/checkout",
        "actions/upload-artifact",
        "actions/download-artifact",
        "actions/cache",
        "actions/cache/restore",
        "actions/cache/save",
    }
)


@dataclass(frozen=True, slots=True)
class Finished:
    """Runs that ran to their end here, as recorded."""

    runs: list[RunDetail]
    #: 0 when every run succeeded, 1 when one did not, 128 + signal when one cancelled them.
    exit_code: int


@dataclass(frozen=True, slots=True)
class Cancelled:
    run_id: int
    #: ``requested``: the run's process stops it (it reads the request on its next
    #: heartbeat); ``completed``: no process was running it, its record was completed here.
    how: Literal["requested", "completed"]


def prepare(options: RunOptions) -> Prepared:
    """The runs `options` ask for, validated and compiled, with a note per workflow file
    saying whether it runs and why (raises before anything runs)."""
    from stageline.engine.setup import prepare as prepare_runs

    if options.service_hosts is None:
        options = dataclasses.replace(options, service_hosts=_service_hosts)
    return prepare_runs(options)


def _service_hosts(root: Path) -> Mapping[str, HostService]:
    """The services `.stageline.yml` maps (loaded only for a job that has services)."""
    from stageline.deploy.config import load_config

    return load_config(root).services


def list_jobs(options: RunOptions) -> list[ListedJob]:
    """The jobs of the workflows by stage, as `act -l` lists them: of every workflow
    when no event is named, else of those the event runs."""
    from stageline.engine.setup import list_jobs as listing
    from stageline.engine.setup import select

    named = options.event is not None or options.event_path is not None
    return listing(select(options, every=not named))


def workflows(options: RunOptions) -> list[Workflow]:
    """The workflows the event runs, loaded and valid (for `--graph`)."""
    from stageline.engine.setup import select

    return select(options).workflows


def start(
    prepared: Prepared,
    *,
    parallel: int | None = None,
    observer_for: ObserverFor = lambda spec: None,
    prompt: bool = False,
    executor: str | None = None,
    database_url: str | None = None,
) -> Finished:
    """Run the prepared runs to their end, sharing one `parallel` bound.

    `prompt`: offer approve/reject at the terminal while a gate waits, when there is one.
    `executor`: a name; None: $STAGELINE_EXECUTOR, else the repository's `executor:`
    (`.stageline.yml`), else local.
    """
    with context.open(prepared.facts.root, database_url, create=True, at_root=True) as ctx:
        delivery = needs_delivery(prepared.specs, ctx.root)
        execution = drive(
            ctx,
            str(ctx.root),
            prepared.specs,
            executor=executor,
            parallel=parallel,
            observer_for=observer_for,
            prompt=prompt,
            delivery=delivery,
        )
        return _finished(ctx, execution)


def resume(
    repo_dir: str | Path,
    run: int,
    *,
    vars: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    observer_for: ObserverFor = lambda spec: None,
    prompt: bool = False,
    say: Say = lambda text: None,
    executor: str | None = None,
    database_url: str | None = None,
) -> Finished:
    """Continue run `run` (its id), whose process stopped while it waited, to its end.

    Its recorded plan runs again under the same id: completed jobs keep their results,
    a waiting gate is re-entered with the decisions recorded so far. What the run got
    from the command line is not recorded: `vars`, `secrets` and `env` give it again
    (over `.env` and `.secrets`, read as `stageline run` reads them).
    """
    from stageline.engine.resume import resumable

    with context.open(repo_dir, database_url) as ctx:
        found = ctx.store.runs.find_run(run)
        if found is None:
            raise RunError(f"no run {run} in the record", hint="see `stageline runs`")
        resumable(ctx.store, found.id)
        spec = resumed_spec(ctx.root, found.repo_path, found.plan, vars, secrets, env)
        say(f"resuming run {found.id} (#{found.number})")
        execution = drive(
            ctx,
            found.repo_path,
            [spec],
            executor=executor,
            parallel=None,
            observer_for=observer_for,
            prompt=prompt,
            delivery=True,
            resume_id=found.id,
        )
        return _finished(ctx, execution)


def cancel(
    repo_dir: str | Path,
    run: int,
    *,
    reason: str = "cancelled on request",
    database_url: str | None = None,
) -> Cancelled:
    """Stop run `run` (its id): ask its process, or complete its record as cancelled when
    no process runs it (a run left waiting at a gate, say)."""
    from stageline.runs.states import ACTIVE_STATUSES, Conclusion

    with context.open(repo_dir, database_url, reap=True) as ctx:
        found = ctx.store.runs.find_run(run)
        if found is None:
            raise RunError(f"no run {run} in the record", hint="see `stageline runs`")
        if found.status not in ACTIVE_STATUSES:
            raise RunError(f"run {found.id} has ended; nothing to cancel")
        if not ctx.store.runs.run_alive(found.id):
            ctx.store.runs.finish_orphan(found.id, reason, Conclusion.CANCELLED)
            return Cancelled(found.id, "completed")
        if not ctx.store.runs.request_cancel(found.id, reason):  # it ended meanwhile
            raise RunError(f"run {found.id} has ended; nothing to cancel")
        return Cancelled(found.id, "requested")


def needs_delivery(specs: Sequence[RunSpec], root: Path) -> bool:
    """Whether the runs need `deploy.wiring` (gates, deployments, auto-approvals,
    notifications): only with a `.stageline.yml`, a job with an `environment`, or an
    action that could approve. Without them its hooks do nothing, and loading them
    costs more than a short run."""
    if (root / ".stageline.yml").exists():
        return True
    for spec in specs:
        for job in spec.plan.jobs:
            if job.environment is not None:
                return True
            for step in job.steps:
                if step.uses and step.uses.split("@")[0].strip().lower() not in _PLAIN_ACTIONS:
                    return True
    return False


def drive(
    ctx: context.Context,
    repo_dir: str,
    specs: list[RunSpec],
    *,
    executor: str | Executor | None,
    parallel: int | None,
    observer_for: ObserverFor,
    prompt: bool,
    delivery: bool,
    resume_id: int | None = None,
    handle_signals: bool = True,
    adopted: frozenset[str] = frozenset(),
) -> Execution:
    """The one start-up sequence (see module doc): new runs, or the resume of one.

    `repo_dir` is the runs' `repo_path` (where jobs check out from; the server passes
    its mirror); `ctx.root` the tree their `.stageline.yml` was read from.
    `handle_signals=False` for a loop outside the main thread (the server's `RunHost`).
    `executor` is a name (`choose_executor`), or an executor for these runs (the
    server's `RemoteExecutor`, bound to its dispatcher). `adopted`: the jobs of the
    resumed run whose attempts a worker still runs (`engine.resume.resumed_state`)."""
    import asyncio

    from stageline.engine.scheduler import default_parallel

    chosen = (
        choose_executor(ctx, executor)
        if executor is None or isinstance(executor, str)
        else executor
    )
    bound = parallel or default_parallel()
    specs = with_stored_secrets(ctx, repo_dir, specs)
    hooks = None
    if delivery:
        from stageline.deploy.wiring import is_interactive, wire

        interactive = prompt and is_interactive()
        hooks = wire(ctx.store, repo_dir, chosen, specs, config=ctx.config, interactive=interactive)
    observe = hooks.observing(observer_for) if hooks is not None else observer_for
    gatekeeper = hooks.gatekeeper if hooks is not None else None
    after_job = hooks.after_job if hooks is not None else None
    try:
        if resume_id is None:
            from stageline.engine.execute import execute

            return asyncio.run(
                execute(
                    specs,
                    ctx.store,
                    chosen,
                    parallel=bound,
                    observer_for=observe,
                    gatekeeper=gatekeeper,
                    after_job=after_job,
                    handle_signals=handle_signals,
                )
            )
        from stageline.engine.resume import resume_run

        return asyncio.run(
            resume_run(
                ctx.store,
                chosen,
                specs[0],
                resume_id,
                parallel=bound,
                observer=observe(specs[0]),
                gatekeeper=gatekeeper,
                after_job=after_job,
                handle_signals=handle_signals,
                adopted=adopted,
            )
        )
    finally:
        if hooks is not None:
            hooks.close()


def choose_executor(ctx: context.Context, name: str | None) -> Executor:
    """The executor `name`, else $STAGELINE_EXECUTOR, else the repository's `executor:`,
    else local. The sandbox gets its `sandbox:` limits and hides the store's home (a
    server's whole data dir); it is checked here, before any run is recorded, so a
    machine without bubblewrap fails at once with the reason."""
    from stageline.executors import get_executor

    configured = (ctx.root / ".stageline.yml").exists()
    name = (
        name
        or os.environ.get("STAGELINE_EXECUTOR")
        or (ctx.config.executor if configured else None)
        or "local"
    )
    if name != "sandbox":
        return get_executor(name)
    from stageline.executors.bwrap import SandboxPolicy
    from stageline.executors.sandbox import SandboxExecutor, require

    require()
    policy = SandboxPolicy(hidden=(str(ctx.store.home),))
    found = ctx.config.sandbox if configured else None
    if found is not None:
        policy = SandboxPolicy(
            memory=found.memory,
            processes=found.processes,
            file_size=found.file_size,
            network=found.network == "host",
            network_jobs=frozenset(found.network_jobs),
            network_environments=frozenset(found.network_environments),
            hidden=policy.hidden,
        )
    return SandboxExecutor(policy)


def with_stored_secrets(ctx: context.Context, repo_dir: str, specs: list[RunSpec]) -> list[RunSpec]:
    """The runs with their repository's stored secrets (`stageline secret set`) under
    those given with --secret or a secret file, which take precedence. An environment's
    secrets wait for its gate (`deploy.gatekeeper`)."""
    from stageline.app.secrets import repo_secrets

    stored = repo_secrets(ctx.store, repo_dir)
    return [
        dataclasses.replace(s, secrets={**stored, **s.secrets}, given_secrets=frozenset(s.secrets))
        for s in specs
    ]


def _finished(ctx: context.Context, execution: Execution) -> Finished:

    details = [ctx.store.runs.get_run(outcome.run_id) for outcome in execution.outcomes]
    return Finished(details, execution.exit_code)


def resumed_spec(
    root: Path,
    repo_path: str,
    recorded: dict[str, object],
    vars: dict[str, str] | None,
    secrets: dict[str, str] | None,
    env: dict[str, str] | None,
) -> RunSpec:
    """The run's spec as `stageline run` would build it today from its recorded event;
    when the workflow changed since (or no longer compiles), its recorded plan as is."""
    from stageline.engine.scheduler import RunSpec
    from stageline.engine.setup import RunOptions, run_environment
    from stageline.errors import StagelineError
    from stageline.plan.model import plan_from_dict

    plan = plan_from_dict(recorded)
    options = RunOptions(
        cwd=root,
        workflow=plan.workflow_path,
        event=plan.event.name,
        ref=plan.event.ref or None,
        actor=plan.event.actor or None,
        inputs={k: str(v) for k, v in plan.event.inputs.items()},
        vars=dict(vars or {}),
        env=dict(env or {}),
        secrets=dict(secrets or {}),
    )
    try:
        base = prepare(options).specs[0]
        contexts, given = base.contexts, (base.secrets, base.extra_env, base.action_dirs)
    except StagelineError:
        found = run_environment(root, secrets=options.secrets, env=options.env)
        env_context: dict[str, object] = {**found.extra_env, **plan.env}
        contexts = {"vars": dict(options.vars), "inputs": plan.event.inputs, "env": env_context}
        given = (found.secrets, found.extra_env, found.action_dirs)
    return RunSpec(
        plan=plan,
        repo_dir=repo_path,
        contexts=contexts,
        secrets=given[0],
        extra_env=given[1],
        action_dirs=given[2],
    )


__all__ = [
    "Cancelled",
    "Finished",
    "ObserverFor",
    "Say",
    "cancel",
    "drive",
    "list_jobs",
    "needs_delivery",
    "prepare",
    "resume",
    "resumed_spec",
    "start",
    "workflows",
]

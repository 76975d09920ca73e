"""`stageline resume RUN`: continue a run whose process stopped while a gate held it.

The run's recorded plan is run again under the same run id (see `engine.resume`):
completed jobs keep their results, a waiting gate is re-entered with the decisions
recorded so far, the rest runs. Contexts a run gets from the command line (`--var`,
`--secret`, `--env`) are not recorded; give them again here, or keep them in
`.env`/`.secrets` as `stageline run` reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def resume(
    run: Annotated[int, typer.Argument(help="Run id (see `stageline runs`).", show_default=False)],
    var: Annotated[
        list[str] | None, typer.Option("--var", help="`vars` entry KEY=VALUE (repeatable).")
    ] = None,
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="Secret KEY=VALUE (repeatable).")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="Extra environment variable KEY=VALUE (repeatable)."),
    ] = None,
) -> int:
    """Continue a run that was stopped while it waited (a gate, a bake window, a rollback)."""
    import asyncio
    import sys

    from stageline.cli.approvals import open_repo
    from stageline.deploy.wiring import is_interactive, wire
    from stageline.engine.lineprinter import LinePrinter
    from stageline.engine.resume import resumable, resume_run
    from stageline.engine.scheduler import RunSpec, default_parallel
    from stageline.engine.setup import RunOptions, parse_pairs, prepare
    from stageline.errors import StagelineError
    from stageline.executors import get_executor
    from stageline.plan.model import plan_from_dict
    from stageline.store import deployments as store_deploys

    with open_repo() as repo:
        found = store_deploys.find_run(repo.store, run)
        if found is None:
            from stageline.errors import RunError

            raise RunError(f"no run {run} in the record", hint="see `stageline runs`")
        resumable(repo.store, found.id)
        plan = plan_from_dict(found.plan)
        options = RunOptions(
            cwd=Path(repo.root),
            workflow=plan.workflow_path,
            event=plan.event.name,
            ref=plan.event.ref or None,
            actor=plan.event.actor or None,
            inputs={k: str(v) for k, v in plan.event.inputs.items()},
            vars=parse_pairs(var or [], "--var"),
            env=parse_pairs(env or [], "--env"),
            secrets=parse_pairs(secret or [], "--secret"),
        )
        try:
            base = prepare(options).specs[0]
            contexts, secrets = base.contexts, base.secrets
            extra_env, action_dirs = base.extra_env, base.action_dirs
        except StagelineError:  # the workflow changed since: run the recorded plan as is
            contexts = {"vars": dict(options.vars), "inputs": plan.event.inputs, "env": plan.env}
            secrets, extra_env = dict(options.secrets), dict(options.env)
            action_dirs = [str(Path(repo.root) / ".stageline" / "actions")]
        spec = RunSpec(
            plan=plan,
            repo_dir=found.repo_path,
            contexts=contexts,
            secrets=secrets,
            extra_env=extra_env,
            action_dirs=action_dirs,
        )
        executor = get_executor("local")
        hooks = wire(repo.store, found.repo_path, executor, [spec], interactive=is_interactive())
        print(f"resuming run {found.id} (#{found.number})", file=sys.stderr, flush=True)
        try:
            execution = asyncio.run(
                resume_run(
                    repo.store,
                    executor,
                    spec,
                    found.id,
                    parallel=default_parallel(),
                    observer=hooks.observing(lambda _spec: LinePrinter(sys.stdout))(spec),
                    gatekeeper=hooks.gatekeeper,
                    after_job=hooks.after_job,
                )
            )
        finally:
            hooks.close()
    if execution.exit_code:
        raise typer.Exit(execution.exit_code)
    return 0


__all__ = ["resume"]

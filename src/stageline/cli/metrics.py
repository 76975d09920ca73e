"""`stageline metrics [ENV] [--json]`: DORA's four keys from the deployment records."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stageline.cli.options import DatabaseUrl, Repo, Server

if TYPE_CHECKING:
    from stageline.deploy.dora import DoraMetrics


def metrics(
    environment: Annotated[
        str | None,
        typer.Argument(help="Environment. Default: each environment.", show_default=False),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only the last DURATION (e.g. 720h). Default: since the first deployment.",
            metavar="DURATION",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    database_url: DatabaseUrl = None,
    server: Server = None,
    repo: Repo = None,
) -> None:
    """Deployment frequency, lead time for changes, change failure rate, time to restore."""
    from stageline.app import deploys
    from stageline.durations import parse_duration

    window = parse_duration(since) if since else None
    if server:
        from stageline.cli import remote
        from stageline.deploy.dora import DoraMetrics

        with remote.connect(server) as api:
            documents = api.get("/metrics", environment=environment, since=since, repo=repo)
        if as_json:
            return remote.dump(documents)
        found = [
            remote.record(
                DoraMetrics,
                d,
                lead_time=remote.seconds(d["lead_time_seconds"]),
                time_to_restore=remote.seconds(d["time_to_restore_seconds"]),
            )
            for d in documents
        ]
        print(render(found), end="")
        return
    results = deploys.metrics(Path.cwd(), environment, since=window, database_url=database_url)
    if as_json:
        print(json.dumps([m.to_dict() for m in results], indent=2))
    else:
        print(render(results), end="")


def render(results: list[DoraMetrics]) -> str:
    """The plain-text report: one block per environment."""
    from stageline.durations import format_duration

    def duration(value: timedelta | None) -> str:
        return "n/a" if value is None else format_duration(value)

    lines: list[str] = []
    for m in results:
        rate = "n/a" if m.change_failure_rate is None else f"{m.change_failure_rate:.0%}"
        lines += [
            f"{m.environment or 'all environments'} "
            f"({m.since:%Y-%m-%d %H:%M} → {m.until:%Y-%m-%d %H:%M} UTC)",
            f"  deployment frequency   {m.deployments_per_day:.2f}/day "
            f"({m.deployments} deployments)",
            f"  lead time for changes  {duration(m.lead_time)} (median of {m.lead_time_changes})",
            f"  change failure rate    {rate} ({m.failed_deployments} failed or rolled back)",
            f"  time to restore        {duration(m.time_to_restore)} (median of "
            f"{m.restored_incidents}; {m.open_incidents} open)",
        ]
    return "\n".join(lines) + "\n" if lines else "no deployments\n"

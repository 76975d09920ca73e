"""DORA's four keys, computed from deployment records alone (pure functions).

Definitions (stated here because DORA leaves room, and `stageline metrics` must
be reproducible by hand):

* **Deployments** in the window: ``deploy`` records (not rollbacks) that finished
  (``success``, ``inactive``, ``failure``, ``rolled_back``) between `since` and
  `until`. **Deployment frequency** is that count per day of the window (a window
  shorter than a day counts as one day).
* **Lead time for changes**: for each commit, from its `commit_time` to the end of
  its first successful (``success``/``inactive``) deployment to the environment;
  the median over the commits whose first success lies in the window.
* **Change failure rate**: deployments that failed or were rolled back, divided by
  all deployments in the window.
* **Time to restore**: a failure (a ``failure`` or ``rolled_back`` record) opens an
  incident at its `finished_at`; the next successful record of the same
  environment (a deploy or a rollback) closes it; later failures before the
  restore belong to the same incident. The median over incidents closed in the
  window; incidents still open are counted apart.

Medians of an even count are the mean of the two middle values.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from stageline.deploy.records import FAILED, FINISHED, SUCCEEDED, DeploymentRecord


@dataclass(frozen=True, slots=True)
class DoraMetrics:
    environment: str | None
    since: datetime
    until: datetime
    deployments: int
    deployments_per_day: float
    lead_time: timedelta | None
    lead_time_changes: int
    failed_deployments: int
    change_failure_rate: float | None
    time_to_restore: timedelta | None
    restored_incidents: int
    open_incidents: int

    def to_dict(self) -> dict[str, object]:
        """JSON-able: times as ISO 8601, durations in seconds."""

        def seconds(value: timedelta | None) -> float | None:
            return None if value is None else value.total_seconds()

        return {
            "environment": self.environment,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "deployments": self.deployments,
            "deployments_per_day": self.deployments_per_day,
            "lead_time_seconds": seconds(self.lead_time),
            "lead_time_changes": self.lead_time_changes,
            "failed_deployments": self.failed_deployments,
            "change_failure_rate": self.change_failure_rate,
            "time_to_restore_seconds": seconds(self.time_to_restore),
            "restored_incidents": self.restored_incidents,
            "open_incidents": self.open_incidents,
        }


def _finished(records: Iterable[DeploymentRecord]) -> list[DeploymentRecord]:
    done = [r for r in records if r.status in FINISHED and r.finished_at is not None]
    return sorted(done, key=lambda r: (r.finished_at, r.created_at))


def _within(record: DeploymentRecord, since: datetime, until: datetime) -> bool:
    return record.finished_at is not None and since <= record.finished_at <= until


def deployments_in(
    records: Iterable[DeploymentRecord], since: datetime, until: datetime
) -> list[DeploymentRecord]:
    return [r for r in _finished(records) if r.kind == "deploy" and _within(r, since, until)]


def deployment_frequency(
    records: Iterable[DeploymentRecord], since: datetime, until: datetime
) -> float:
    days = max((until - since) / timedelta(days=1), 1.0)
    return len(deployments_in(records, since, until)) / days


def lead_times(
    records: Iterable[DeploymentRecord], since: datetime, until: datetime
) -> list[timedelta]:
    """One lead time per (environment, commit) first deployed successfully in the window."""
    first: dict[tuple[str, str], DeploymentRecord] = {}
    for record in _finished(records):
        if record.kind == "deploy" and record.status in SUCCEEDED:
            first.setdefault((record.environment, record.sha), record)
    return [
        r.finished_at - r.commit_time  # type: ignore[operator]
        for r in first.values()
        if _within(r, since, until)
    ]


def change_failure_rate(
    records: Iterable[DeploymentRecord], since: datetime, until: datetime
) -> float | None:
    deployed = deployments_in(records, since, until)
    if not deployed:
        return None
    return sum(r.status in FAILED for r in deployed) / len(deployed)


def restore_times(
    records: Iterable[DeploymentRecord], since: datetime, until: datetime
) -> tuple[list[timedelta], int]:
    """(times to restore of incidents closed in the window, incidents still open at `until`)."""
    opened: dict[str, datetime] = {}
    restored: list[timedelta] = []
    for record in _finished(records):
        if record.finished_at is None or record.finished_at > until:
            break
        env = record.environment
        if record.status in FAILED:
            opened.setdefault(env, record.finished_at)
        elif env in opened:
            start = opened.pop(env)
            if record.finished_at >= since:
                restored.append(record.finished_at - start)
    return restored, len(opened)


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def compute(
    records: Iterable[DeploymentRecord],
    *,
    until: datetime,
    since: datetime | None = None,
    environment: str | None = None,
) -> DoraMetrics:
    """The four keys for `environment` (all environments when None) over [since, until];
    `since` defaults to the first record's creation."""
    chosen = [r for r in records if environment is None or r.environment == environment]
    if since is None:
        since = min((r.created_at for r in chosen), default=until)
    deployed = deployments_in(chosen, since, until)
    leads = lead_times(chosen, since, until)
    restores, still_open = restore_times(chosen, since, until)
    return DoraMetrics(
        environment=environment,
        since=since,
        until=until,
        deployments=len(deployed),
        deployments_per_day=deployment_frequency(chosen, since, until),
        lead_time=_median(leads),
        lead_time_changes=len(leads),
        failed_deployments=sum(r.status in FAILED for r in deployed),
        change_failure_rate=change_failure_rate(chosen, since, until),
        time_to_restore=_median(restores),
        restored_incidents=len(restores),
        open_incidents=still_open,
    )


__all__ = [
    "DoraMetrics",
    "change_failure_rate",
    "compute",
    "deployment_frequency",
    "deployments_in",
    "lead_times",
    "restore_times",
]

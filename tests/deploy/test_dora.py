"""DORA metrics over hand-made records; every expected number is worked out in comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stageline.deploy.dora import compute
from stageline.deploy.records import DeploymentRecord, DeploymentStatus


def t(day: int, hour: float = 0) -> datetime:
    """March `day`, 2026, at `hour` (UTC)."""
    return datetime(2026, 3, day, tzinfo=UTC) + timedelta(hours=hour)


def rec(
    id: str,
    sha: str,
    committed: datetime,
    finished: datetime | None,
    status: DeploymentStatus,
    env: str = "production",
    kind: str = "deploy",
) -> DeploymentRecord:
    return DeploymentRecord(
        id=id,
        environment=env,
        sha=sha,
        commit_time=committed,
        ref="refs/heads/main",
        run_id=f"run-{id}",
        job="deploy",
        triggered_by="alice",
        status=status,
        created_at=(finished or t(11)) - timedelta(minutes=5),
        started_at=(finished or t(11)) - timedelta(minutes=4),
        finished_at=finished,
        kind=kind,  # type: ignore[arg-type]
    )


RECORDS = [
    # Before the window (March 1-11): never counted.
    rec("d0", "z", t(1) - timedelta(days=9), t(1) - timedelta(days=9, hours=-1), "inactive"),
    rec("d1", "a", t(1, 10), t(1, 12), "inactive"),  # lead 2h
    rec("d2", "b", t(2, 9), t(2, 10.5), "rolled_back"),  # incident opens 2 Mar 10:30
    rec("r1", "a", t(1, 10), t(2, 10.75), "inactive", kind="rollback"),  # restores: 15 min
    rec("d3", "c", t(3, 8), t(4, 8), "failure"),  # incident opens 4 Mar 08:00
    rec("d4", "c", t(3, 8), t(4, 9), "inactive"),  # lead 25h; restores: 1h
    rec("d5", "d", t(5, 12), t(5, 12.5), "success"),  # lead 30 min
    rec("d6", "e", t(10, 19), t(10, 20), "failure"),  # incident still open
    rec("q1", "f", t(10, 21), None, "queued"),  # not finished: never counted
    rec("p1", "f", t(10, 21), None, "in_progress"),
    # Staging: a failure restored a day later, with a production success in between.
    rec("s1", "a", t(1, 10), t(1, 11), "inactive", env="staging"),  # lead 1h
    rec("s2", "g", t(4, 20), t(5, 0), "failure", env="staging"),  # incident opens 5 Mar 00:00
    rec("s3", "f", t(5, 23), t(6, 0), "success", env="staging"),  # lead 1h; restores: 24h
]
SINCE, UNTIL = t(1), t(11)


def test_production() -> None:
    m = compute(RECORDS, since=SINCE, until=UNTIL, environment="production")
    # Deploy records finished in the window: d1 d2 d3 d4 d5 d6 (r1 is a rollback).
    assert m.deployments == 6
    assert m.deployments_per_day == 6 / 10
    # First successful deploy per commit: a 2h, c 25h (d4, after d3 failed), d 30min.
    assert m.lead_time_changes == 3
    assert m.lead_time == timedelta(hours=2)  # median of 0.5h, 2h, 25h
    # Failed or rolled back: d2, d3, d6 out of 6.
    assert m.failed_deployments == 3
    assert m.change_failure_rate == 0.5
    # Incidents: 15 min (d2 → r1) and 1h (d3 → d4); d6 still open.
    assert m.restored_incidents == 2 and m.open_incidents == 1
    assert m.time_to_restore == timedelta(minutes=37.5)  # mean of the two middle values


def test_all_environments() -> None:
    m = compute(RECORDS, since=SINCE, until=UNTIL)
    assert m.environment is None
    assert m.deployments == 9  # 6 production + s1 s2 s3
    assert m.deployments_per_day == 0.9
    assert m.failed_deployments == 4 and m.change_failure_rate == 4 / 9
    # Leads 0.5h 1h 1h 2h 25h → median 1h.
    assert m.lead_time_changes == 5 and m.lead_time == timedelta(hours=1)
    # Restores 15min, 1h, 24h (staging is restored by staging, not by d5) → median 1h.
    assert m.restored_incidents == 3 and m.time_to_restore == timedelta(hours=1)


def test_a_narrow_window() -> None:
    # 4 March 00:00 to 12:00: d3 (failure) and d4 (success). Counts as one day.
    m = compute(RECORDS, since=t(4), until=t(4, 12), environment="production")
    assert (m.deployments, m.deployments_per_day) == (2, 2.0)
    assert m.change_failure_rate == 0.5
    assert m.lead_time == timedelta(hours=25)
    assert (m.time_to_restore, m.open_incidents) == (timedelta(hours=1), 0)


def test_no_records() -> None:
    m = compute([], until=UNTIL)
    assert (m.since, m.deployments, m.deployments_per_day) == (UNTIL, 0, 0.0)
    assert m.lead_time is None and m.change_failure_rate is None and m.time_to_restore is None
    assert m.to_dict()["lead_time_seconds"] is None


def test_since_defaults_to_the_first_record() -> None:
    m = compute(RECORDS, until=UNTIL, environment="production")
    first = min(r.created_at for r in RECORDS if r.environment == "production")
    assert m.since == first
    assert m.deployments == 7  # d0 now counts too
    # d0's lead is 1h (20 Feb 00:00 → 01:00): leads 0.5h 1h 2h 25h → median 1.5h.
    assert m.to_dict()["lead_time_seconds"] == 1.5 * 3600

"""`stageline metrics`: its report, and its clear refusal while the store has no deployments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from stageline.cli.metrics import render
from stageline.deploy.dora import compute
from stageline.deploy.records import DeploymentRecord
from tests.support.cli import stageline


def test_without_records_it_says_so(tmp_path: Path) -> None:
    done = stageline(tmp_path, "metrics", "production")
    assert done.returncode == 1
    assert done.stderr.startswith("error: no deployment records yet\n  hint: ")
    assert "Traceback" not in done.stderr


def test_a_bad_since_is_a_duration_error(tmp_path: Path) -> None:
    done = stageline(tmp_path, "metrics", "--since", "30 days")
    assert done.returncode == 1
    assert done.stderr.startswith("error: invalid duration '30 days'")


def test_render() -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)

    def record(n: int, status: str, hours: float) -> DeploymentRecord:
        return DeploymentRecord(
            id=f"d{n}",
            environment="production",
            sha=f"sha{n}",
            commit_time=t0 + timedelta(hours=hours - 2),
            ref="refs/heads/main",
            run_id=f"r{n}",
            job="deploy",
            triggered_by="alice",
            status=status,  # type: ignore[arg-type]
            created_at=t0 + timedelta(hours=hours - 1),
            finished_at=t0 + timedelta(hours=hours),
        )

    # Two deployments in a 2-day window: one failed at 10:00, restored by the next at 12:30.
    records = [record(1, "failure", 10), record(2, "success", 12.5)]
    result = compute(records, since=t0, until=t0 + timedelta(days=2), environment="production")
    assert render([result]) == (
        "production (2026-03-01 00:00 → 2026-03-03 00:00 UTC)\n"
        "  deployment frequency   1.00/day (2 deployments)\n"
        "  lead time for changes  2h (median of 1)\n"
        "  change failure rate    50% (1 failed or rolled back)\n"
        "  time to restore        2h30m (median of 1; 0 open)\n"
    )
    assert render([]) == "no deployments\n"

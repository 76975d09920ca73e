"""Cron schedules: when an entry is due (an injected clock), and which entries a real
mirror's default branch holds."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from stageline.app.schedule import Entry, due, entries

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_nothing_is_due_before_the_next_cron_time() -> None:
    assert due("0 12 * * *", NOON - timedelta(hours=1), NOON - timedelta(minutes=1)) is None


def test_a_cron_time_that_came_is_due_once_at_that_time() -> None:
    assert due("0 12 * * *", NOON - timedelta(hours=1), NOON) == NOON
    assert due("0 12 * * *", NOON, NOON + timedelta(minutes=10)) is None


def test_after_downtime_only_the_latest_missed_time_is_due() -> None:
    three_days_down = NOON - timedelta(days=3, minutes=5)
    at = due("*/15 * * * *", three_days_down, NOON + timedelta(minutes=7))
    assert at == NOON  # one run, at the latest time missed: not 289 of them
    assert due("*/15 * * * *", at, NOON + timedelta(minutes=7)) is None


def test_times_are_utc_whatever_the_clock_zone() -> None:
    one_pm_in_paris = datetime(2026, 3, 2, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert due("0 12 * * *", NOON - timedelta(hours=1), one_pm_in_paris) == NOON


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_entries_are_read_from_the_mirror_default_branch(tmp_path: Path) -> None:
    work = tmp_path / "work"
    flows = work / ".github" / "workflows"
    flows.mkdir(parents=True)
    (flows / "nightly.yml").write_text(
        "on:\n  schedule:\n    - cron: '0 3 * * *'\n    - cron: '30 12 * * 1'\n"
        "jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n"
    )
    (flows / "ci.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"
    )
    (flows / "broken.yml").write_text("on: [schedule\n")
    _git(tmp_path, "init", "-q", "-b", "trunk", str(work))
    _git(work, "add", ".")
    _git(work, "-c", "user.name=A", "-c", "user.email=a@x", "commit", "-qm", "one")
    _git(work, "checkout", "-qb", "other")
    (flows / "nightly.yml").unlink()
    _git(work, "-c", "user.name=A", "-c", "user.email=a@x", "commit", "-qam", "gone")
    _git(work, "checkout", "-q", "trunk")
    mirror = tmp_path / "mirror.git"
    _git(tmp_path, "clone", "-q", "--mirror", str(work), str(mirror))
    branch, found = entries(mirror)
    assert branch == "trunk"
    assert found == [
        Entry(".github/workflows/nightly.yml", "0 3 * * *"),
        Entry(".github/workflows/nightly.yml", "30 12 * * 1"),
    ]

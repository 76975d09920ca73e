"""Opening the store: migrations, WAL, and several processes at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine

import stageline.store.db as db
from stageline.store import open_store, store_home
from stageline.store.models import Base


def test_a_fresh_store_is_migrated_to_head_in_wal_mode(tmp_path: Path) -> None:
    with open_store(tmp_path / "home") as store:
        conn = store.conn
        assert (
            conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            == db.HEAD_REVISION
        )
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        conn.rollback()
    assert (tmp_path / "home" / "stageline.db").exists()


def test_head_revision_constant_matches_the_migrations() -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == db.HEAD_REVISION


def _clauses(sql: str) -> list[str]:
    """A CREATE statement's column and constraint clauses, in a stable order."""
    head, _, body = sql.partition("(")
    parts, depth, current = [], 0, ""
    for char in body.rsplit(")", 1)[0]:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(" ".join(current.split()))
            current = ""
        else:
            current += char
    parts.append(" ".join(current.split()))
    return [" ".join(head.split()), *sorted(parts)]


def _schema(conn: Connection) -> list[tuple[str, list[str]]]:
    rows = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).all()
    conn.rollback()
    return [(name, _clauses(sql or "")) for name, sql in rows]


def test_migrations_build_exactly_the_models_and_the_fresh_schema(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    with engine.connect() as conn:
        db.migrate(conn)  # every migration, in order, from an empty file
        conn.commit()
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, Base.metadata) == []
        conn.rollback()
        migrated = _schema(conn)
    engine.dispose()
    with open_store(tmp_path / "fresh") as store:  # a new store: created from the models
        assert _schema(store.conn) == migrated


def test_store_home_prefers_stageline_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("STAGELINE_HOME", raising=False)
    assert store_home(tmp_path) == tmp_path.resolve() / ".stageline"
    monkeypatch.setenv("STAGELINE_HOME", str(tmp_path / "elsewhere"))
    assert store_home(tmp_path) == (tmp_path / "elsewhere").resolve()


OPEN_AND_CREATE = """
import sys
from stageline.store import open_store
from stageline.store.records import NewJob, NewRun
store = open_store(sys.argv[1])
numbers = []
for _ in range(int(sys.argv[2])):
    new = NewRun("/repo", "o/r", "wf", "ci.yml", "push", "refs/heads/main", "abc", "me", {})
    run_id, number = store.runs.create_run(new, [NewJob("a", "a", "a", [])], "logs")
    numbers.append(number)
print(" ".join(map(str, numbers)))
"""


def test_processes_opening_a_fresh_store_and_writing_at_once(tmp_path: Path) -> None:
    home = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_CREATE, str(home), "25"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    numbers = [int(n) for out, _ in outputs for n in out.split()]
    assert sorted(numbers) == list(range(1, 76))  # distinct, gapless per repository


def test_the_record_inside_a_repository_is_ignored_by_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".stageline" / "actions").mkdir(parents=True)
    (tmp_path / ".stageline" / "actions" / "action.yml").write_text("name: vendored\n")
    with open_store(tmp_path / ".stageline"):
        pass
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert status == ["??", ".stageline/actions/action.yml"]  # vendored actions stay visible


def test_an_older_store_is_upgraded_by_the_migrations(tmp_path: Path) -> None:
    from alembic import command

    engine = create_engine(f"sqlite:///{tmp_path / 'stageline.db'}")
    with engine.connect() as conn:
        config = Config()
        config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.commit()
    engine.dispose()
    with open_store(tmp_path) as store:
        revision = store.conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        store.conn.rollback()
    assert revision == db.HEAD_REVISION


def test_the_timestamps_migration_turns_text_times_into_seconds(tmp_path: Path) -> None:
    from alembic import command

    engine = create_engine(f"sqlite:///{tmp_path / 'stageline.db'}")
    with engine.connect() as conn:
        config = Config()
        config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")  # times were text then
        conn.exec_driver_sql(
            "INSERT INTO runs (number, attempt, repo_path, repository, workflow, workflow_path, "
            "event, ref, sha, actor, status, created_at, started_at, log_dir, plan) VALUES "
            "(1, 1, '/r', 'o/r', 'CI', 'ci.yml', 'push', '', '', '', 'completed', "
            "'2026-11-28 20:16:36.205261', '2026-11-28 20:16:37', '', '{}')"
        )
        conn.commit()
    engine.dispose()
    with open_store(tmp_path) as store:
        stored = store.raw.execute("SELECT created_at, finished_at FROM runs").fetchone()
        run = store.runs.get_run(1).run
    assert isinstance(stored[0], float) and stored[1] is None  # seconds, no text
    assert run.created_at == datetime(2026, 11, 28, 20, 16, 36, 205261, tzinfo=UTC)
    assert run.started_at == datetime(2026, 11, 28, 20, 16, 37, tzinfo=UTC)


@pytest.mark.services
def test_the_migrations_build_exactly_the_models_on_postgresql(tmp_path: Path) -> None:
    from tests.support.postgres import fresh_database

    with fresh_database() as url:
        open_store(tmp_path, url).close()  # every migration, in order, on an empty database
        engine = create_engine(url)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            kinds = (
                conn.exec_driver_sql(
                    "SELECT DISTINCT data_type FROM information_schema.columns "
                    "WHERE column_name IN ('created_at', 'at', 'heartbeat_at')"
                )
                .scalars()
                .all()
            )
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        engine.dispose()
    assert kinds == ["timestamp with time zone"]
    assert version == db.HEAD_REVISION


def test_the_timestamps_migration_goes_back_to_text_and_forth(tmp_path: Path) -> None:
    from alembic import command

    from stageline.store.records import NewRun

    with open_store(tmp_path) as store:
        new = NewRun("/r", "o/r", "CI", "ci.yml", "push", "", "", "", {})
        run_id, _ = store.runs.create_run(new, [], "L")
        created = store.runs.get_run(run_id).run.created_at
    engine = create_engine(f"sqlite:///{tmp_path / 'stageline.db'}")
    with engine.connect() as conn:
        config = Config()
        config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
        conn.commit()
        text = conn.exec_driver_sql("SELECT created_at FROM runs").scalar()
    engine.dispose()
    assert len(text) == len("2026-12-03 08:00:00.000000")  # SQLAlchemy's text form
    assert abs((datetime.fromisoformat(text).replace(tzinfo=UTC) - created).total_seconds()) <= 1e-6
    with open_store(tmp_path) as store:  # upgraded again on open
        again = store.runs.get_run(run_id).run.created_at
    assert abs((again - created).total_seconds()) <= 1e-6

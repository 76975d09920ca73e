"""The record: an embedded SQLite store (SQLAlchemy 2 + Alembic) and step log files.

Public surface: open a store with `open_store(store_home(repo))`, create runs and
record their transitions through `store.runs`, read them back as plain records
through `store.queries`. ORM models stay inside this package.
"""

from stageline.store import deploy_models as _deploy_models  # noqa: F401  (in Base.metadata)
from stageline.store.db import HEAD_REVISION, Store, open_store, store_home
from stageline.store.queries import get_run, list_runs, reap_orphans, run_events, run_state
from stageline.store.records import (
    AnnotationRecord,
    ArtifactRecord,
    EventRecord,
    JobRecord,
    RunDetail,
    RunRecord,
    StepRecord,
    jsonable,
)
from stageline.store.runs import (
    Controls,
    NewJob,
    NewRun,
    RunRecorder,
    create_run,
    heartbeat,
    request_cancel,
    request_job_cancel,
)

__all__ = [
    "HEAD_REVISION",
    "AnnotationRecord",
    "ArtifactRecord",
    "Controls",
    "EventRecord",
    "JobRecord",
    "NewJob",
    "NewRun",
    "RunDetail",
    "RunRecord",
    "RunRecorder",
    "StepRecord",
    "Store",
    "create_run",
    "get_run",
    "heartbeat",
    "jsonable",
    "list_runs",
    "open_store",
    "reap_orphans",
    "request_cancel",
    "request_job_cancel",
    "run_events",
    "run_state",
    "store_home",
]

"""The record: runs and deployments in SQLite or PostgreSQL, and step log files.

Public surface: open a store with `open_store(store_home(repo))` (or a PostgreSQL
URL, see `store.db`), then use its ports, `store.runs` (`RunStore`) and
`store.deployments` (`DeploymentStore`), which speak the plain records of
`store.records`. ORM models stay inside this package.

The names below load on first use (PEP 562): the run path works on the stdlib
`sqlite3` module, and importing this package must not pull in SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stageline.store.db import (
        DATABASE_URL_ENV,
        DB_NAME,
        HEAD_REVISION,
        open_store,
        store_home,
    )
    from stageline.store.ports import DeploymentStore, Recorder, RunStore, Store
    from stageline.store.records import (
        AnnotationRecord,
        ArtifactRecord,
        Controls,
        EventRecord,
        JobRecord,
        NewJob,
        NewRun,
        RunDetail,
        RunRecord,
        StepRecord,
        jsonable,
    )

_HOMES = {
    "db": ("DATABASE_URL_ENV", "DB_NAME", "HEAD_REVISION", "open_store", "store_home"),
    "ports": ("DeploymentStore", "Recorder", "RunStore", "Store"),
    "records": (
        "AnnotationRecord",
        "ArtifactRecord",
        "Controls",
        "EventRecord",
        "JobRecord",
        "NewJob",
        "NewRun",
        "RunDetail",
        "RunRecord",
        "StepRecord",
        "jsonable",
    ),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DATABASE_URL_ENV",
    "DB_NAME",
    "HEAD_REVISION",
    "AnnotationRecord",
    "ArtifactRecord",
    "Controls",
    "DeploymentStore",
    "EventRecord",
    "JobRecord",
    "NewJob",
    "NewRun",
    "Recorder",
    "RunDetail",
    "RunRecord",
    "RunStore",
    "StepRecord",
    "Store",
    "jsonable",
    "open_store",
    "store_home",
]

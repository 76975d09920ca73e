"""The operations a user performs, shared by the CLI, the demo and the server.

Each takes plain arguments (a repository directory, ids, names) and returns plain
results (dataclasses); a user error is a `StagelineError`. Nothing here prints,
reads the terminal or knows Typer, Rich or HTTP: the faces above render.

* `context`  — the one place a repository's record is opened (`open`)
* `runs`     — start, resume and cancel runs (one start-up sequence: `_drive`)
* `gates`    — decide a waiting gate: which gate, who, whether it counts
* `deploys`  — roll back, and read deployments, environments and DORA metrics
* `reads`    — read runs, one run, and its logs

Modules load what they need inside their functions: `stageline run` must start
without SQLAlchemy, Rich or `stageline.deploy` (tests/cli/test_app.py).
"""

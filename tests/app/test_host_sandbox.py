"""The server's runs honour the sandbox (issue 13, item 6): `serve --executor sandbox` walls
every job, and with `--executor local` a repository whose `.stageline.yml` says
`executor: sandbox` gets the walls. Either way the server's whole data dir (its record,
its keys, its mirrors) is hidden from the job's steps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.app import repos
from stageline.app.host import RunHost
from stageline.app.runs import prepare
from stageline.app.serverdata import ServerData, open_server
from stageline.engine.setup import RunOptions
from tests.support.server import make_source, wait_until

#: Looks at the server's data dir (DATA is replaced by its path): empty and read-only
#: passes, anything seen or written fails the job.
PROBE = """on: push
jobs:
  probe:
    runs-on: ubuntu-latest
    steps:
      - run: |
          seen="$(ls -A "DATA" 2>/dev/null || true)"
          echo "seen: [$seen]"
          test -z "$seen"
          if touch "DATA/planted" 2>/dev/null; then echo "planted"; exit 1; fi
"""


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerData]:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    monkeypatch.delenv("STAGELINE_EXECUTOR", raising=False)
    with open_server(tmp_path / "data") as opened:
        yield opened


@pytest.mark.parametrize(
    ("served_with", "config", "walled"),
    [
        ("local", "executor: sandbox\n", True),
        ("sandbox", None, True),
        ("local", None, False),
    ],
)
def test_a_servers_job_runs_inside_the_walls_its_repository_or_server_asks_for(
    server: ServerData, tmp_path: Path, served_with: str, config: str | None, walled: bool
) -> None:
    data = tmp_path / "data"
    files = {".github/workflows/ci.yml": PROBE.replace("DATA", str(data))}
    if config is not None:
        files[".stageline.yml"] = config
    sha = make_source(tmp_path / "web", files)
    repo = repos.add_repo(server, "web", str(tmp_path / "web"))
    root = repos.checkout(server, repo, repos.fetch(server, repo, sha), "refs/heads/main")
    host = RunHost(server, executor=served_with)
    [run_id] = host.start(prepare(RunOptions(cwd=root, event="push")), repo, "alice")
    wait_until(
        lambda: server.store.runs.get_run(run_id).run.status == "completed", "the run to end"
    )
    assert host.join(60)
    detail = server.store.runs.get_run(run_id)
    [step] = detail.jobs[0].steps
    log = Path(step.log_path).read_text() if step.log_path else ""
    if walled:
        assert detail.run.conclusion == "success", log
        assert "seen: []" in log
        assert not (data / "planted").exists()
    else:  # the probe can fail: without walls it sees the record and writes beside it
        assert detail.run.conclusion == "failure", log
        assert "stageline.db" in log

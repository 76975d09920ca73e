"""`stageline actions prune`: what it removes, what it says, and its one-line errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.runner.actions.gitserver import build, free_port, serve
from tests.support.cli import stageline


@pytest.mark.slow
def test_prune_removes_old_entries_and_reports_them(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    repo = tmp_path / "repo"
    repo.mkdir()
    with serve(build(tmp_path / "server")) as server:
        (repo / "wf.yml").write_text(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - uses: acme/greet@v1\n      - uses: acme/wrap@v2\n"
        )
        pulled = stageline(
            repo, "actions", "pull", "wf.yml", env={**env, "STAGELINE_ACTIONS_URL": server.url}
        )
        assert pulled.returncode == 0, pulled.stderr
        sha = server.shas["greet@v1"]
    acme = tmp_path / "cache" / "stageline" / "actions" / "acme"
    old = time.time() - 40 * 86400
    for path in (acme / "greet.git", acme / f"greet@{sha}"):
        os.utime(path, (old, old))

    done = stageline(repo, "actions", "prune", "--older-than", "30d", env=env)

    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == sorted(["acme/greet.git", f"acme/greet@{sha}"])
    assert done.stderr.startswith("removed 2 item(s), ")
    assert sorted(p.name for p in acme.iterdir() if not p.name.endswith(".lock")) == [
        "wrap.git",
        f"wrap@{server.shas['wrap@v2']}",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "soon"], "'soon' is not a duration"),
        (["--max-size", "lots"], "'lots' is not a size"),
    ],
)
def test_prune_rejects_a_bad_amount_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    env = {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "STAGELINE_ACTIONS_URL": f"git://127.0.0.1:{free_port()}",
    }
    done = stageline(tmp_path, "actions", "prune", *args, env=env)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr

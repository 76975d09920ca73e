"""`app.doctor`: the tool cache, node and git, and where each action of the workflows is."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from stageline.app.doctor import ActionStatus, doctor
from stageline.runner.actions import remote
from tests.runner.actions.gitserver import build, free_port, serve

WORKFLOW = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./.github/actions/local
      - uses: acme/vend@v1
      - uses: acme/greet@v1
      - uses: acme/absent@v1
      - uses: actions/checkout@v4
"""
LOCAL = "runs:\n  using: composite\n  steps: []\n"


def make_repo(root: Path) -> Path:
    files = {
        ".github/workflows/ci.yml": WORKFLOW,
        ".github/actions/local/action.yml": LOCAL,
        ".stageline/actions/acme/vend@v1/action.yml": LOCAL,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose `acme/greet@v1` is in the action cache (fetched from the fixture
    server, which is gone by the time the test runs: doctor must not fetch)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("STAGELINE_OFFLINE", raising=False)
    with serve(build(tmp_path / "server")) as server:
        monkeypatch.setenv("STAGELINE_ACTIONS_URL", server.url)
        action = remote.parse("acme/greet@v1")
        assert action is not None
        remote.fetch(action)
    monkeypatch.setenv("STAGELINE_ACTIONS_URL", f"git://127.0.0.1:{free_port()}")
    (tmp_path / "repo").mkdir()
    return make_repo(tmp_path / "repo")


def test_doctor_reports_tools_programs_and_actions(repo: Path, tmp_path: Path) -> None:
    report = doctor(repo)

    assert report.tool_cache == tmp_path / "xdg-cache" / "stageline" / "toolcache"
    assert any(e.tool == "Python" for e in report.tools)
    assert report.programs["git"] and report.programs["git"][0].isdigit()
    node = shutil.which("node")
    assert (report.programs["node"] is None) == (node is None)
    by_uses = {a.uses: a for a in report.actions}
    assert list(by_uses) == [  # each once, in the workflow's order
        "actions/checkout@v4",
        "./.github/actions/local",
        "acme/vend@v1",
        "acme/greet@v1",
        "acme/absent@v1",
    ]
    assert by_uses["actions/checkout@v4"] == ActionStatus("actions/checkout@v4", "built-in", "")
    assert by_uses["./.github/actions/local"].source == "local"
    assert by_uses["acme/vend@v1"].source == "vendored"
    greet = by_uses["acme/greet@v1"]
    assert greet.source == "cached" and len(greet.detail) == 40
    absent = by_uses["acme/absent@v1"]
    assert absent.source == "missing" and "acme/absent@v1" in absent.detail
    assert report.problems == []


def test_doctor_outside_a_repository_lists_the_tool_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    report = doctor(tmp_path)
    assert report.actions == [] and report.problems == []
    assert [e for e in report.tools if e.tool == "Python"]


@pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")
def test_doctor_shows_the_hosts_java_where_setup_java_finds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    report = doctor(tmp_path)
    said = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    version = report.programs["java"]
    assert version and f'version "{version}"' in said
    home = Path(shutil.which("java") or "").resolve().parent.parent
    (java,) = [e for e in report.tools if Path(e.target) == home]
    assert java.tool == "Java_Temurin-Hotspot_jdk"
    # `17.0.15` runs as build 6: setup-java's folder is `17.0.15-6`
    assert java.version.startswith(f"{version}-") or java.version == version

"""The tool cache: the host's toolchains placed as `@actions/tool-cache` looks them up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stageline.runner import toolcache
from stageline.runs.states import Conclusion
from tests.runner.helpers import job, make_repo, request, run, step
from tests.support import setup_actions

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def _this_python() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def _node_version() -> str:
    out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip().removeprefix("v")


def _run(exe: Path, *args: str) -> str:
    return subprocess.run([str(exe), *args], capture_output=True, text=True, check=True).stdout


@needs_node
def test_fill_places_the_hosts_python_and_node_with_markers() -> None:
    cache = toolcache.root()
    placed = toolcache.fill(cache)
    arch = toolcache.arch()
    assert arch == {"x86_64": "x64", "aarch64": "arm64"}.get(os.uname().machine, arch)

    python = cache / "Python" / _this_python() / arch
    assert Path(f"{python}.complete").is_file()
    version = _run(python / "bin" / "python", "-c", "import sys; print(sys.version_info[:2])")
    assert version.strip() == str(tuple(sys.version_info[:2]))

    node = cache / "node" / _node_version() / arch
    assert Path(f"{node}.complete").is_file()
    assert _run(node / "bin" / "node", "--version").strip() == f"v{_node_version()}"
    assert _run(node / "bin" / "node", "-e", "console.log(1 + 1)").strip() == "2"

    before = {e.place(cache): os.lstat(e.place(cache)).st_ino for e in placed}
    assert toolcache.fill(cache) == placed
    assert before == {e.place(cache): os.lstat(e.place(cache)).st_ino for e in placed}  # kept

    listed = toolcache.entries(cache)
    assert {(e.tool, e.version, e.arch) for e in placed} == {
        (e.tool, e.version, e.arch) for e in listed
    }
    for entry in listed:  # every target is there, every entry runs
        assert os.path.exists(entry.target)
        exe = {"node": "node", "Python": "python", "go": "go"}.get(entry.tool, "java")
        assert os.access(entry.place(cache) / "bin" / exe, os.X_OK), entry


def test_fill_keeps_downloads_and_drops_what_the_host_lost(tmp_path: Path) -> None:
    cache = toolcache.root()
    downloaded = cache / "Python" / "3.4.0" / "x64"
    (downloaded / "bin").mkdir(parents=True)
    Path(f"{downloaded}.complete").write_text("")
    gone = cache / "Python" / "3.5.0" / "x64"
    gone.parent.mkdir(parents=True)
    gone.symlink_to(tmp_path / "uninstalled")
    Path(f"{gone}.complete").write_text("")

    first = toolcache.fill(cache)
    second = toolcache.fill(cache)

    assert first == second
    assert downloaded.is_dir() and Path(f"{downloaded}.complete").is_file()
    assert not os.path.lexists(gone) and not Path(f"{gone}.complete").exists()
    versions = {(e.tool, e.version) for e in toolcache.entries(cache)}
    assert ("Python", "3.4.0") in versions and ("Python", "3.5.0") not in versions


def test_go_is_placed_as_its_goroot_and_asked_again_only_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    goroot = tmp_path / "go-sdk"
    (goroot / "bin").mkdir(parents=True)
    go = goroot / "bin" / "go"
    calls = tmp_path / "calls"
    script = f'#!/bin/sh\necho >> {calls}\nprintf "go1.22\\n{goroot}\\n"\n'
    go.write_text(script)
    go.chmod(0o755)
    monkeypatch.setenv("PATH", f"{goroot / 'bin'}{os.pathsep}{os.environ['PATH']}")

    toolcache.fill(toolcache.root())
    toolcache.fill(toolcache.root())

    place = toolcache.root() / "go" / "1.22.0" / toolcache.arch()
    assert place.is_symlink() and place.resolve() == goroot.resolve()
    assert Path(f"{place}.complete").is_file()
    assert len(calls.read_text().splitlines()) == 1  # the answer was remembered
    go.write_text(script.replace("go1.22", "go1.23.1"))  # an upgrade
    toolcache.fill(toolcache.root())
    assert len(calls.read_text().splitlines()) == 2
    assert (toolcache.root() / "go" / "1.23.1" / toolcache.arch()).is_symlink()
    assert not os.path.lexists(place)


INDEX_MJS = """
import * as tc from '@actions/tool-cache';
const python = tc.find('Python', process.env['INPUT_PYTHON-VERSION']);
const node = tc.find('node', process.versions.node.split('.')[0]);
console.log('python=' + python);
console.log('node=' + node);
"""
ACTION_YML = """
name: find toolchains
inputs:
  python-version: {required: true}
runs:
  using: node20
  main: index.mjs
"""


@pytest.fixture(scope="session")
def tool_cache_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`@actions/tool-cache` from the npm registry, installed once per session."""
    return setup_actions.tool_cache_package(tmp_path_factory)


@pytest.mark.slow
@needs_node
def test_a_node_action_finds_the_hosts_toolchains_without_download(
    tmp_path: Path, tool_cache_package: Path
) -> None:
    minor = ".".join(map(str, sys.version_info[:2]))
    repo = make_repo(tmp_path, {"action/action.yml": ACTION_YML, "action/index.mjs": INDEX_MJS})
    planned = job(
        step(0, "ln -s " + str(tool_cache_package) + " action/node_modules"),
        step(1, uses="./action", with_={"python-version": minor}),
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations

    cache = toolcache.root()
    lines = dict(line.split("=", 1) for line in sink.lines(1) if "=" in line)
    # setup-python's rule: `3.11` is the newest 3.11.x the cache holds
    offered = [
        tuple(map(int, e.version.split(".")))
        for e in toolcache.entries(cache)
        if e.tool == "Python"
        and e.arch == toolcache.arch()
        and e.version.startswith(f"{minor}.")
        and "-" not in e.version
    ]
    newest = ".".join(map(str, max(offered)))
    assert lines["python"] == str(cache / "Python" / newest / toolcache.arch())
    assert lines["node"] == str(cache / "node" / _node_version() / toolcache.arch())


def test_concurrent_fills_share_the_cache(tmp_path: Path) -> None:
    code = "from stageline.runner import toolcache; toolcache.fill(toolcache.root())"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    listed = toolcache.entries()
    assert listed and all(os.path.exists(e.target) for e in listed)
    assert not [p for p in toolcache.root().glob("*/*/.*") if p.name != ".stageline"]


def test_only_a_job_that_runs_actions_fills_it(tmp_path: Path) -> None:
    composite = "runs:\n  using: composite\n  steps:\n    - shell: sh\n      run: echo in-action\n"
    repo = make_repo(tmp_path, {"action/action.yml": composite})
    show = 'echo "$RUNNER_TOOL_CACHE $AGENT_TOOLSDIRECTORY ${{ runner.tool_cache }}"'
    plain = job(step(0, show), step(1, uses="actions/checkout@v4"))
    result, sink = run(request(tmp_path, repo, plain))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    cache = str(toolcache.root())
    assert sink.lines(0)[-1] == f"{cache} {cache} {cache}"
    assert not toolcache.root().exists()  # a job of run: steps and built-ins waits for nothing

    with_action = job(step(0, uses="./action"), step(1, show))
    result, sink = run(request(tmp_path, repo, with_action))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    assert any(e.tool == "Python" for e in toolcache.entries())


def _fake_jdk(home: Path, runtime_version: str, *, javac: bool = True) -> Path:
    (home / "bin").mkdir(parents=True)
    for name in ("java", "javac") if javac else ("java",):
        (home / "bin" / name).write_text("#!/bin/sh\necho fake\n")
        (home / "bin" / name).chmod(0o755)
    (home / "release").write_text(
        f'IMPLEMENTOR="Someone"\nJAVA_RUNTIME_VERSION="{runtime_version}"\n'
    )
    return home


def test_jdks_are_placed_where_setup_java_looks_for_temurin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jdk = _fake_jdk(tmp_path / "jdk-21", "21.0.4+7-LTS")
    jre = _fake_jdk(tmp_path / "jre-8", "1.8.0_392-b08", javac=False)
    early = _fake_jdk(tmp_path / "jdk-24", "24-ea+3")
    monkeypatch.setenv("PATH", f"{jre / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("JAVA_HOME", str(jdk))
    toolcache.fill(toolcache.root())

    cache, arch = toolcache.root(), toolcache.arch()
    # base-installer.ts: `Java_${distribution}_${packageType}/<version with + as ->/<arch>`
    placed = cache / "Java_Temurin-Hotspot_jdk" / "21.0.4-7" / arch
    assert placed.is_symlink() and placed.resolve() == jdk.resolve()
    assert Path(f"{placed}.complete").is_file()
    old = cache / "Java_Temurin-Hotspot_jre" / "8.0.392-8" / arch
    assert old.resolve() == jre.resolve() and Path(f"{old}.complete").is_file()

    monkeypatch.setenv("JAVA_HOME", str(early))
    toolcache.fill(toolcache.root())
    versions = {(e.tool, e.version) for e in toolcache.entries(cache)}
    assert not any(v.startswith("24") for _, v in versions), versions  # early access: no
    assert ("Java_Temurin-Hotspot_jdk", "21.0.4-7") not in versions  # JAVA_HOME moved on
    assert ("Java_Temurin-Hotspot_jre", "8.0.392-8") in versions


@pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")
def test_the_hosts_java_is_offered_and_runs() -> None:
    real = subprocess.run(["java", "-version"], capture_output=True, text=True, check=True)
    toolcache.fill(toolcache.root())
    javas = [e for e in toolcache.entries() if e.tool.startswith("Java_Temurin-Hotspot_")]
    host_home = Path(shutil.which("java") or "").resolve().parent.parent
    (entry,) = [e for e in javas if Path(e.target) == host_home]
    feature, _, update = entry.version.split("-")[0].partition(".")
    assert f'version "{feature}' in real.stderr
    java = entry.place(toolcache.root()) / "bin" / "java"
    shown = subprocess.run([java, "-version"], capture_output=True, text=True, check=True)
    assert shown.stderr == real.stderr and update

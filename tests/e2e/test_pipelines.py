"""Realistic pipelines, written for these tests, run green with `stageline run` against
the fixture action server: `actions/setup-python`, `setup-node`, `setup-java` and
`softprops/action-gh-release` stand-ins under their real names
(`tests/e2e/fixtures/actions`), each finding its toolchain in the tool cache Stageline
fills from the host. Nothing outside 127.0.0.1 is reached, but for the one `npm install`
of `@actions/tool-cache` per session."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stageline.runner import toolcache
from tests.e2e.test_run_cli import make_repo, stageline
from tests.runner.actions.gitserver import ActionServer, serve
from tests.support.git import git
from tests.support.github_api import fake_github
from tests.support.npm_registry import npm_registry
from tests.support.setup_actions import publish_stand_ins, tool_cache_package

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="node and npm are not installed",
    ),
]


@pytest.fixture(scope="session")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActionServer]:
    """The stand-ins, built once and served by git daemon for the whole session."""
    root = tmp_path_factory.mktemp("stand-ins")
    node_modules = tool_cache_package(tmp_path_factory)
    server = ActionServer(root / "server" / "base")
    server.base.mkdir(parents=True)
    server.shas = publish_stand_ins(server, node_modules)
    with serve(server) as served:
        yield served


@pytest.fixture(scope="session")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One XDG cache for the session (fetched actions, the tool cache), filled now."""
    home = tmp_path_factory.mktemp("xdg-cache")
    toolcache.fill(home / "stageline" / "toolcache")
    return home


@pytest.fixture
def env(stand_ins: ActionServer, cache_home: Path) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(cache_home), "STAGELINE_ACTIONS_URL": stand_ins.url}


def offered(cache_home: Path, tool: str) -> list[str]:
    """The stable versions of `tool` the tool cache offers for this machine, newest last."""
    found = [
        e.version
        for e in toolcache.entries(cache_home / "stageline" / "toolcache")
        if e.tool == tool and e.arch == toolcache.arch() and "-" not in e.version
    ]
    return sorted(found, key=lambda v: tuple(map(int, v.split("."))))


def newest(versions: list[str], spec: str) -> str:
    """setup-python's rule: `3.11` is the newest 3.11.x."""
    return [v for v in versions if v.startswith(f"{spec}.")][-1]


def run(repo: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    """`stageline run --json ARGS`: the exit code, the document, the run's logs."""
    done = stageline(repo, "run", "--json", *args, env=env)
    assert done.stdout.strip(), done.stderr
    document = json.loads(done.stdout)
    logs = stageline(repo, "logs", str(document["run_id"]), env=env).stdout
    return done.returncode, document, logs


def conclusions(document: dict[str, Any]) -> dict[str, str]:
    return {job["name"]: job["conclusion"] for job in document["jobs"]}


# -- a Python library's CI ---------------------------------------------------------------

LIBRARY = {
    "pyproject.toml": '[project]\nname = "calc"\nversion = "1.0.0"\n',
    "src/calc/__init__.py": (
        '"""Small arithmetic."""\n\n\ndef mean(values):\n'
        "    values = list(values)\n    return sum(values) / len(values)\n"
    ),
    "tests/test_calc.py": (
        "import unittest\n\nfrom calc import mean\n\n\n"
        "class MeanTest(unittest.TestCase):\n"
        "    def test_mean(self):\n        self.assertEqual(mean([1, 2, 3]), 2)\n"
    ),
}
LIBRARY_CI = """\
name: Python package
on:
  push:
    branches: [main]
  pull_request:
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "{lint}"
      - name: Byte-compile
        run: python -m compileall -q src tests
  test:
    needs: lint
    runs-on: ubuntu-latest
    continue-on-error: ${{{{ matrix.experimental }}}}
    strategy:
      fail-fast: false
      matrix:
        python-version: [{legs}]
        experimental: [false]
        include:
          - python-version: "{next}"
            experimental: true
    steps:
      - uses: actions/checkout@v4
      - id: setup
        uses: actions/setup-python@v5
        with:
          python-version: ${{{{ matrix.python-version }}}}
      - name: Test
        run: python -m unittest discover -s tests -v
        env:
          PYTHONPATH: src
      - run: >-
          echo "leg ${{{{ matrix.python-version }}}}:
          ${{{{ steps.setup.outputs.python-version }}}}
          $(python -c 'import sys; print(sys.version.split()[0])')
          $pythonLocation"
  package:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "{lint}"
      - run: echo "tests ${{{{ needs.test.result }}}}; packaging calc"
"""


def test_a_python_library_ci_with_a_version_matrix(
    cache_home: Path, env: dict[str, str], tmp_path: Path
) -> None:
    pythons = offered(cache_home, "Python")
    minors = sorted(
        {
            ".".join(v.split(".")[:2])
            for v in pythons
            if v.startswith("3.") and int(v.split(".")[1]) >= 8
        },
        key=lambda m: int(m.split(".")[1]),
    )[-3:]
    assert minors, pythons  # at least the interpreter running these tests
    upcoming = f"3.{int(minors[-1].split('.')[1]) + 1}"  # the host lacks it
    legs = ", ".join(f'"{m}"' for m in minors)
    workflow = LIBRARY_CI.format(lint=minors[-1], legs=legs, next=upcoming)
    repo = make_repo(tmp_path / "calc", {**LIBRARY, ".github/workflows/ci.yml": workflow})

    code, document, logs = run(repo, env)

    assert code == 0, logs
    assert conclusions(document) == {
        "lint": "success",
        **{f"test ({m}, false)": "success" for m in minors},
        f"test ({upcoming}, true)": "failure",
        "package": "success",
    }
    for minor in minors:  # each leg ran its own interpreter, found as setup-python finds it
        version = newest(pythons, minor)
        place = cache_home / "stageline" / "toolcache" / "Python" / version / toolcache.arch()
        assert f"leg {minor}: {version} {version} {place}" in logs
    assert (
        f"The version '{upcoming}' with architecture '{toolcache.arch()}' was not found in "
        "the tool cache"
    ) in logs
    assert "tests success; packaging calc" in logs


# -- a Node app's CI ---------------------------------------------------------------------

GREETER = {
    "package.json": '{"name": "tiny-greeter", "version": "1.2.0", "main": "index.js"}\n',
    "index.js": "module.exports = (who) => `hello ${who}`;\n",
}
APP = {
    "package.json": json.dumps(
        {
            "name": "shop-web",
            "version": "1.0.0",
            "private": True,
            "scripts": {"test": "node --test"},
            "dependencies": {"tiny-greeter": "^1.2.0"},
        },
        indent=2,
    ),
    "test/greet.test.js": (
        "const test = require('node:test');\nconst assert = require('node:assert');\n"
        "const greet = require('tiny-greeter');\n\n"
        "test('greets', () => assert.strictEqual(greet('shop'), 'hello shop'));\n"
    ),
}
NODE_CI = """\
name: Node.js CI
on:
  push:
    branches: [main]
  pull_request:
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: node
        uses: actions/setup-node@v4
        with:
          node-version: {major}
          cache: npm
      - run: npm ci --prefer-offline --no-audit --no-fund
      - run: npm test
      - run: >-
          echo "node ${{{{ steps.node.outputs.node-version }}}} $(node --version)
          cache-hit=${{{{ steps.node.outputs.cache-hit }}}}"
"""


def locked(files: dict[str, str], scratch: Path) -> str:
    """The package-lock.json npm writes for `files` (its own cache, thrown away)."""
    for name, text in files.items():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        (scratch / name).write_text(text)
    done = subprocess.run(
        ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"],
        cwd=scratch,
        env={
            **os.environ,
            "npm_config_cache": str(scratch / ".npm-cache"),
            "npm_config_update_notifier": "false",  # no visit to the public registry
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return (scratch / "package-lock.json").read_text()


def test_a_node_app_ci_whose_second_run_hits_the_npm_cache(
    cache_home: Path, env: dict[str, str], tmp_path: Path
) -> None:
    node = offered(cache_home, "node")[-1]
    npm_cache = tmp_path / "npm-cache"  # ~/.npm of this machine, for the test
    with npm_registry({("tiny-greeter", "1.2.0"): GREETER}) as registry:
        app = {**APP, ".npmrc": f"registry={registry.url}/\n"}
        (tmp_path / "scratch").mkdir()
        app["package-lock.json"] = locked(app, tmp_path / "scratch")
        workflow = NODE_CI.format(major=node.split(".")[0])
        repo = make_repo(tmp_path / "shop-web", {**app, ".github/workflows/ci.yml": workflow})
        registry.requests.clear()

        code, document, logs = run(repo, env, "--env", f"npm_config_cache={npm_cache}")

        assert code == 0, logs
        assert "tiny-greeter/-/tiny-greeter-1.2.0.tgz" in registry.requests
    assert f"node v{node} v{node} cache-hit=false" in logs
    assert "# pass 1" in logs
    key = re.search(r"Cache saved with key: (node-cache-\S+-npm-[0-9a-f]{64})", logs)
    assert key, logs

    shutil.rmtree(npm_cache)  # a fresh machine; the registry is gone too
    code, document, logs = run(repo, env, "--env", f"npm_config_cache={npm_cache}")

    assert code == 0, logs
    assert conclusions(document) == {"build": "success"}
    assert f"Cache restored from key: {key[1]}" in logs
    assert f"node v{node} v{node} cache-hit=true" in logs
    assert "# pass 1" in logs and "Cache saved" not in logs


# -- build and release on a tag ----------------------------------------------------------

HELLO = {
    "src/hello.py": 'def main():\n    print("hello from the release")\n',
    "README.md": "# hello\n",
}
RELEASE = """\
name: Release
on:
  push:
    tags: ["v*"]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "{python}"
      - name: Build
        run: |
          mkdir -p dist
          python -m zipapp src -m "hello:main" -o "dist/hello-$GITHUB_REF_NAME.pyz"
          (cd dist && sha256sum *.pyz > SHA256SUMS)
      - uses: actions/upload-artifact@v4
        with:
          name: dist
          path: dist/
  smoke-test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: "{python}"
      - uses: actions/download-artifact@v4
        with:
          name: dist
          path: dist
      - run: |
          cd dist
          sha256sum -c SHA256SUMS
          python "hello-${{{{ github.ref_name }}}}.pyz"
  release:
    needs: [build, smoke-test]
    if: startsWith(github.ref, 'refs/tags/v')
    runs-on: ubuntu-latest
    permissions:
      contents: write
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: dist
          path: dist
      - id: release
        uses: softprops/action-gh-release@v2
        with:
          files: |
            dist/*.pyz
            dist/SHA256SUMS
      - run: echo "released ${{{{ steps.release.outputs.url }}}}"
"""


def test_build_and_release_on_a_tag_publishes_the_artifact(
    cache_home: Path, env: dict[str, str], tmp_path: Path
) -> None:
    python = ".".join(offered(cache_home, "Python")[-1].split(".")[:2])
    files = {**HELLO, ".github/workflows/release.yml": RELEASE.format(python=python)}
    repo = make_repo(tmp_path / "hello", files)
    git(repo, "tag", "v1.0.0")

    with fake_github() as github:
        code, document, logs = run(
            repo,
            env,
            "--ref",
            "refs/tags/v1.0.0",
            "--env",
            f"GITHUB_API_URL={github.url}",
            "--secret",
            "GITHUB_TOKEN=ghs_release_token",
        )

    assert code == 0, logs
    assert conclusions(document) == {
        "build": "success",
        "smoke-test": "success",
        "release": "success",
    }
    assert "hello from the release" in logs and "hello-v1.0.0.pyz: OK" in logs
    assert github.releases == [
        {"tag_name": "v1.0.0", "name": "v1.0.0", "body": "", "draft": False, "prerelease": False}
    ]
    assert github.authorizations == ["Bearer ghs_release_token"] * 3
    assert "ghs_release_token" not in logs
    by_name = {a.name: a for a in github.assets}
    assert sorted(by_name) == ["SHA256SUMS", "hello-v1.0.0.pyz"]
    pyz = by_name["hello-v1.0.0.pyz"]
    assert pyz.release_id == 1 and pyz.content_type == "application/octet-stream"
    with zipfile.ZipFile(io.BytesIO(pyz.data)) as archive:  # the artifact the build made
        assert {"hello.py", "__main__.py"} <= set(archive.namelist())
    digest = hashlib.sha256(pyz.data).hexdigest()
    assert by_name["SHA256SUMS"].data.decode() == f"{digest}  hello-v1.0.0.pyz\n"
    assert f"released {github.url}/acme/shop/releases/tag/v1.0.0" in logs


# -- a Java service's CI -----------------------------------------------------------------

JAVA_CI = """\
name: Java CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: java
        uses: actions/setup-java@v4
        with:
          distribution: temurin
          java-version: "{major}"
      - run: java src/Hello.java
      - run: echo "java ${{{{ steps.java.outputs.version }}}} at $JAVA_HOME"
"""
HELLO_JAVA = (
    "public class Hello {\n  public static void main(String[] args) {\n"
    '    System.out.println("hello from java " + Runtime.version().feature());\n  }\n}\n'
)


@pytest.mark.skipif(shutil.which("javac") is None, reason="no JDK on this host")
def test_a_java_ci_with_setup_java_finds_the_hosts_jdk(
    cache_home: Path, env: dict[str, str], tmp_path: Path
) -> None:
    jdks = [
        e
        for e in toolcache.entries(cache_home / "stageline" / "toolcache")
        if e.tool == "Java_Temurin-Hotspot_jdk" and e.arch == toolcache.arch()
    ]
    home = Path(shutil.which("java") or "").resolve().parent.parent  # the host's java
    major = next(e.version for e in jdks if Path(e.target) == home).split(".")[0]
    files = {"src/Hello.java": HELLO_JAVA, ".github/workflows/ci.yml": JAVA_CI.format(major=major)}
    repo = make_repo(tmp_path / "service", files)

    code, _, logs = run(repo, env)

    assert code == 0, logs
    assert f"hello from java {major}" in logs
    found = [e for e in jdks if e.version.split(".")[0] == major]  # `17`: the newest 17.x
    best = max(found, key=lambda e: tuple(map(int, re.findall(r"\d+", e.version))))
    place = best.place(cache_home / "stageline" / "toolcache")
    assert f"java {best.version.replace('-', '+', 1)} at {place}" in logs

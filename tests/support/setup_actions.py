"""The fixture action server's stand-ins of public actions (`tests/e2e/fixtures/actions`):
each published under its real name and major tag, with `@actions/tool-cache` from the npm
registry in its `node_modules`, as a real action ships its dependencies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.runner.actions.gitserver import ActionServer

FIXTURES = Path(__file__).resolve().parents[1] / "e2e" / "fixtures" / "actions"
TAGS = {
    "actions/setup-python": "v5",
    "actions/setup-node": "v4",
    "actions/setup-java": "v4",
    "softprops/action-gh-release": "v2",
}
NPM_PACKAGE = "@actions/tool-cache"


def tool_cache_package(factory: pytest.TempPathFactory) -> Path:
    """`@actions/tool-cache` from the npm registry (the only registry a test reaches),
    installed once per session under its base temp directory; its `node_modules`."""
    prefix = factory.getbasetemp() / "npm-tool-cache"
    node_modules = prefix / "node_modules"
    if (node_modules / NPM_PACKAGE / "package.json").is_file():
        return node_modules
    done = subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", NPM_PACKAGE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return node_modules


def publish_stand_ins(server: ActionServer, node_modules: Path) -> dict[str, str]:
    """Publish every stand-in on `server` at its tag; the commit of each, by name."""
    shas = {}
    for name, tag in TAGS.items():
        files = {
            str(p.relative_to(FIXTURES / name)): p.read_text()
            for p in sorted((FIXTURES / name).rglob("*"))
            if p.is_file()
        }
        shas[name] = server.publish(name, files, f"{name} {tag}")
        if any(NPM_PACKAGE in text for text in files.values()):
            work = server.base.parent / "work" / name
            shutil.copytree(node_modules, work / "node_modules", symlinks=True)
            shas[name] = server.publish(name, {}, "node_modules")
        server.tag(name, tag)
    return shas

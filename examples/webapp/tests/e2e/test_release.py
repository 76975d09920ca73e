"""End-to-end tests: a release artifact deployed with deploy/deploy.sh into a scratch
deploy root, served as a real background process, checked with deploy/smoke.sh.

Uses the artifact in $WEBAPP_ARTIFACT or ./dist when the pipeline provides one, and
builds its own with scripts/build.sh otherwise.
"""

import json
import os
import socket
import subprocess
import tempfile
import unittest
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(outdir: Path, release: str | None = None) -> Path:
    env = dict(os.environ)
    if release:
        env["GITHUB_SHA"] = release
    out = subprocess.run(
        [str(PROJECT / "scripts/build.sh"), str(outdir)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(out.split("artifact=")[1].strip())


class DeployedReleaseTest(unittest.TestCase):
    def setUp(self) -> None:
        scratch = tempfile.TemporaryDirectory(prefix="webapp-e2e-")
        self.addCleanup(scratch.cleanup)
        self.scratch = Path(scratch.name)
        self.port = free_port()
        self.env = {
            **os.environ,
            "STAGELINE_DEPLOY_ROOT": str(self.scratch / "deploy"),
            "DEPLOY_PORT": str(self.port),
        }
        self.env.pop("GITHUB_OUTPUT", None)
        self.addCleanup(self.script, "deploy/stop.sh", "e2e")
        given = os.environ.get("WEBAPP_ARTIFACT") or next(
            iter(sorted((PROJECT / "dist").glob("webapp-*.tar.gz"))), None
        )
        self.artifact = Path(given) if given else build(self.scratch / "dist")

    def script(self, name: str, *args: str, **env: str) -> str:
        done = subprocess.run(
            [str(PROJECT / name), *args],
            env={**self.env, **env},
            cwd=PROJECT,
            capture_output=True,
            text=True,
        )
        self.assertEqual(done.returncode, 0, f"{name} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def deploy(self, artifact: Path) -> str:
        return self.script("deploy/deploy.sh", "e2e", WEBAPP_ARTIFACT=str(artifact))

    def health(self) -> dict[str, str]:
        url = f"http://127.0.0.1:{self.port}/health"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return json.loads(reply.read())

    def test_deploy_serves_the_release_and_passes_smoke(self) -> None:
        out = self.deploy(self.artifact)
        self.assertIn(f"url=http://127.0.0.1:{self.port}", out)
        release = self.health()["release"]
        env_dir = self.scratch / "deploy/e2e"
        self.assertEqual(os.readlink(env_dir / "current"), f"releases/{release}")
        smoke = self.script(
            "deploy/smoke.sh", f"http://127.0.0.1:{self.port}", EXPECT_RELEASE=release
        )
        self.assertIn("ok", smoke)

    def test_redeploy_swaps_current_and_keeps_the_old_release(self) -> None:
        self.deploy(self.artifact)
        first = self.health()["release"]
        second_artifact = build(self.scratch / "dist2", release="e2e0second000")
        self.deploy(second_artifact)
        env_dir = self.scratch / "deploy/e2e"
        self.assertEqual(self.health()["release"], "e2e0second00")
        self.assertEqual(os.readlink(env_dir / "current"), "releases/e2e0second00")
        self.assertTrue((env_dir / "releases" / first / "webapp/app.py").is_file())
        self.assertEqual([p.name for p in env_dir.glob(".current.*")], [])

    def test_stop_ends_the_service(self) -> None:
        self.deploy(self.artifact)
        self.script("deploy/stop.sh", "e2e")
        status = subprocess.run(
            [
                "python3",
                str(PROJECT / "deploy/service.py"),
                "status",
                str(self.scratch / "deploy/e2e"),
            ],
            capture_output=True,
            text=True,
        )
        self.assertEqual(status.returncode, 3, status.stdout)
        with self.assertRaises(OSError):
            self.health()


if __name__ == "__main__":
    unittest.main()

"""Secrets never rest in clear text: a workflow tries every path a secret can take into the
record (step and job outputs, `::add-mask::`, annotations, the step summary, `GITHUB_ENV`,
base64, `toJSON`, a failure reason), then the whole store directory, the logs and the work
directories are searched, byte by byte, for the secret in its plain, base64 and JSON forms."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from tests.e2e.test_run_cli import make_repo, stageline

pytestmark = pytest.mark.slow

SECRET = 'Tk-9f8e"7d\\6c5b4a-zq'
#: Not a secret: the step masks it itself with `::add-mask::`.
MASKED = "".join(reversed(SECRET))

WORKFLOW = """\
on: push
jobs:
  leak:
    runs-on: ubuntu-latest
    outputs:
      token: ${{ steps.out.outputs.token }}
      derived: ${{ steps.mask.outputs.value }}
    env:
      TOKEN: ${{ secrets.DEPLOY_KEY }}
    steps:
      - id: out
        name: outputs ${{ secrets.DEPLOY_KEY }}
        run: |
          printf 'token=%s\\n' "$TOKEN" >> "$GITHUB_OUTPUT"
          printf 'b64=%s\\n' "$(printf %s "$TOKEN" | base64)" >> "$GITHUB_OUTPUT"
          printf 'json=%s\\n' "$(printf %s "$JSON" | tr -d '\\n')" >> "$GITHUB_OUTPUT"
          printf 'LEAK=%s\\n' "$TOKEN" >> "$GITHUB_ENV"
        env:
          JSON: ${{ toJSON(secrets) }}
      - id: mask
        run: |
          V=$(printf %s "$TOKEN" | rev)
          echo "::add-mask::$V"
          printf 'value=%s\\n' "$V" >> "$GITHUB_OUTPUT"
          echo "::warning title=$V::warned $V"
          echo "::error::erred $TOKEN"
          printf '## %s %s\\n' "$V" "$TOKEN" >> "$GITHUB_STEP_SUMMARY"
      - run: |
          echo "env $LEAK"
          printf %s "$TOKEN" | base64
          echo '${{ toJSON(secrets) }}'
          echo "$OUT $DERIVED"
        env:
          OUT: ${{ steps.out.outputs.token }}
          DERIVED: ${{ steps.mask.outputs.value }}
  after:
    needs: leak
    runs-on: ubuntu-latest
    steps:
      - run: echo "got '${{ needs.leak.outputs.token }}' '${{ needs.leak.outputs.derived }}'"
  reason:
    runs-on: ubuntu-latest
    env:
      BROKEN: ${{ fromJSON(secrets.DEPLOY_KEY) }}
    steps:
      - run: echo never
"""


def forms(value: str) -> list[bytes]:
    return [
        value.encode(),
        base64.b64encode(value.encode()).rstrip(b"="),
        json.dumps(value)[1:-1].encode(),
    ]


def files_under(root: Path) -> list[Path]:
    return [Path(d, f) for d, _, names in os.walk(root) for f in names]


def leaks(roots: list[Path]) -> list[str]:
    found = []
    for root in roots:
        for path in files_under(root):
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            for value in (SECRET, MASKED):
                for form in forms(value):
                    if form in data:
                        found.append(f"{path}: {form!r}")
    return found


def our_shm_roots() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("stageline-run-*")} if shm.is_dir() else set()


@pytest.mark.parametrize("keep", [False, True], ids=["tmpfs", "kept-workspaces"])
def test_no_secret_rests_in_clear_text(tmp_path: Path, keep: bool) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/leak.yml": WORKFLOW})
    before = our_shm_roots()
    args = ["run", "-s", f"DEPLOY_KEY={SECRET}"] + (["--keep-workspaces"] if keep else [])
    done = stageline(repo, *args)
    assert done.returncode == 1, done.stdout + done.stderr  # the `reason` job fails
    home = repo / ".stageline"
    assert (home / "stageline.db").is_file()
    assert any(p.suffix == ".log" for p in files_under(home / "logs"))
    new_roots = [Path("/dev/shm", name) for name in our_shm_roots() - before]
    assert leaks([home, *new_roots]) == []
    shown = stageline(repo, "show", "1", "--json").stdout
    assert "***" in shown
    for value in (SECRET, MASKED):
        assert all(form.decode() not in shown for form in forms(value))


def test_store_is_private(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/leak.yml": WORKFLOW})
    stageline(repo, "run", "-j", "after", "-s", f"DEPLOY_KEY={SECRET}")
    home = repo / ".stageline"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    private = [p for p in home.iterdir() if p.is_file()] + files_under(home / "logs")
    assert any(p.name == "stageline.db" for p in private)
    assert any(p.suffix == ".log" for p in private)
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

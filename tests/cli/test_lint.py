"""`stageline lint` on real repositories in temp dirs, through the real CLI process."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.cli import stageline

PIPELINE = """\
name: delivery
on: push
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: make build
  unit:
    needs: build
    runs-on: ubuntu-latest
    continue-on-error: true
    steps:
      - run: pytest -q
  lint:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: ruff check .
  staging:
    needs: [unit, lint]
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - run: ./deploy.sh staging
  production:
    needs: unit
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: ./deploy.sh production
"""

CONFIG = """\
environments:
  staging:
    monitor: {duration: 30s, checks: [{name: up, command: 'true'}]}
    rollback: {mode: auto}
  production:
    rollback: {mode: auto}
"""


def where(text: str, needle: str) -> str:
    """`line:col` (1-based) of `needle`'s first occurrence in `text`."""
    at = text.index(needle)
    line = text.count("\n", 0, at) + 1
    return f"{line}:{at - (text.rfind(chr(10), 0, at) + 1) + 1}"


def repository(tmp_path: Path, workflow: str, config: str | None) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "delivery.yml").write_text(workflow)
    if config is not None:
        (tmp_path / ".stageline.yml").write_text(config)
    return tmp_path


def test_pitfalls_are_reported_with_positions(tmp_path: Path) -> None:
    repo = repository(tmp_path, PIPELINE, CONFIG)
    done = stageline(repo, "lint")
    assert done.returncode == 1, done.stderr
    path = ".github/workflows/delivery.yml"
    warnings = [line for line in done.stdout.splitlines() if not line.startswith("  hint:")]
    after_production = PIPELINE[PIPELINE.index("  production:") :]
    offset = PIPELINE.count("\n", 0, PIPELINE.index("  production:"))
    needs_line, needs_col = map(int, where(after_production, "unit\n").split(":"))
    env_line, env_col = map(int, where(after_production, "production\n").split(":"))
    assert warnings == [
        f"{path}:{where(PIPELINE, 'true')}: warning: test job 'unit' has continue-on-error and "
        "a deploy depends on it",
        f"{path}:{needs_line + offset}:{needs_col}: warning: production deploy 'production' does "
        "not need test job(s) 'lint'",
        f"{path}:{env_line + offset}:{env_col}: warning: environment 'production' has no monitor "
        "in .stageline.yml",
        f"{path}:{env_line + offset}:{env_col}: warning: deploys to 'production' need no approval",
    ]
    assert done.stderr.strip() == "4 warning(s) in 1 workflow(s)"


def test_a_clean_repository_passes(tmp_path: Path) -> None:
    clean = PIPELINE.replace("    continue-on-error: true\n", "").replace(
        "needs: unit\n", "needs: staging\n"
    )
    config = CONFIG.replace(
        "  production:\n",
        "  production:\n    approval: {rules: [{reviewers: [ops]}]}\n"
        "    monitor: {duration: 1m, checks: [{name: up, command: 'true'}]}\n",
    )
    repo = repository(tmp_path, clean, config)
    done = stageline(repo, "lint", ".github/workflows/delivery.yml")
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert done.stderr.strip() == "no pitfalls found in 1 workflow(s)"


def test_config_errors_stop_the_lint(tmp_path: Path) -> None:
    repo = repository(tmp_path, PIPELINE, "environments:\n  staging:\n    monitr: {}\n")
    done = stageline(repo, "lint")
    assert done.returncode == 1
    assert done.stderr.startswith(
        ".stageline.yml:3:5: error: unknown key 'monitr' in environment 'staging'"
    )
    assert "hint: did you mean 'monitor'?" in done.stderr


def test_security_findings_are_reported_with_the_pitfalls(tmp_path: Path) -> None:
    injected = PIPELINE.replace(
        "      - run: ruff check .\n",
        "      - run: echo '${{ github.event.head_commit.message }}'\n",
    )
    repo = repository(tmp_path, injected, CONFIG)
    done = stageline(repo, "lint")
    path = ".github/workflows/delivery.yml"
    assert (
        f"{path}:{where(injected, '${{ github.event.head')}: warning: script injection: "
        "'github.event.head_commit.message' is untrusted input pasted into run:"
    ) in done.stdout.splitlines()
    assert done.stderr.strip() == "5 warning(s) in 1 workflow(s)"

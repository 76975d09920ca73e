"""Every CLI command, with random arguments and random files in the places it reads,
ends with exit 0, 1 or 2 and a message; never a traceback (issue 12, item 7).

The command runs in this process (`stageline.cli.app.main`, what the console script
calls) so that an example costs milliseconds, not an interpreter start: an exception
that escapes `main` is the traceback a user would see, and fails the example.

A quick subset runs by default. For a nightly-sized run set `STAGELINE_FUZZ_EXAMPLES`:

    STAGELINE_FUZZ_EXAMPLES=100000 python -m pytest -q -p no:randomly tests/cli/test_fuzz.py

Left out: `demo` (it starts web servers and runs two releases), `actions pull` (it
fetches from GitHub) and `--database-url` (a random URL could name another host).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stageline.cli.app import main

EXAMPLES = int(os.environ.get("STAGELINE_FUZZ_EXAMPLES", "40"))

HELLO = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: echo hi}]\n"
#: Files an attacker or an unlucky user leaves where the commands read.
HOSTILE = [
    HELLO,
    HELLO + "    environment: {name: prod, url: '${{ steps.x.outputs.u }}'}\n",
    "on: push\njobs:\n  a:\n    strategy:\n      matrix:\n        x: &a [1,1,1,1,1,1,1,1,1,1]\n"
    + "".join(
        f"        x{i}: &a{i} [{', '.join([f'*a{i - 1}' if i > 1 else '*a'] * 10)}]\n"
        for i in range(1, 8)
    ),
    "[" * 5000 + "]" * 5000,
    "environments:\n  prod:\n    monitor:\n      duration: 5s\n      checks:\n"
    "        - {name: h, http: {url: 'http://', status: 99999}}\n",
    "environments: {prod: {approval: {required_reviewers: [a]}, url: 'not a url'}}\n",
    '{"a":' * 2000 + "1" + "}" * 2000,
    "[" * 100_000 + "]" * 100_000,
    '{"ref": "refs/heads/main", "inputs": {"x": 1e999999}}',
    "A=1\nB='unterminated\n\x00\n",
    "jobs: *nothing\n",
    "on: push\njobs: {a: {runs-on: x, steps: [{run: x}], needs: [a]}}\n",
]
#: Where the commands read files, relative to the repository.
PLACES = [
    ".github/workflows/ci.yml",
    ".github/workflows/other.yaml",
    ".stageline.yml",
    ".secrets",
    ".env",
    "event.json",
    "payloads/in-a-dir",
]
PATHS = [*PLACES, "payloads", "missing.yml", ".", "/", "/dev/null", ""]
HUGE = ["0", "-1", "1", "2", str(2**63 - 1), str(2**63), str(10**40), "1e3", "nan"]
FLAGS: dict[str, list[str]] = {
    "validate": [],
    "graph": ["--format", "-f"],
    "run": [
        "--job",
        "--event",
        "--eventpath",
        "--workflows",
        "--ref",
        "--actor",
        "--input",
        "--var",
        "--env",
        "--env-file",
        "--secret",
        "--secret-file",
        "--matrix",
        "--parallel",
        "--json",
        "--list",
        "--dryrun",
        "--graph",
    ],
    "runs": ["--json", "--limit"],
    "show": ["--json"],
    "logs": [],
    "lint": [],
    "metrics": ["--since", "--json"],
    "approve": ["--env", "--as", "--comment"],
    "reject": ["--env", "--as", "--comment"],
    "resume": ["--var", "--secret", "--env"],
    "deployments": ["--json"],
    "environments": ["--json"],
    "rollback": ["--to", "--as"],
    "doctor": ["--json"],
}

contents = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=300),
    st.binary(max_size=300),
    st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=3).map("".join),
)
tokens = st.one_of(
    st.sampled_from(PATHS),
    st.sampled_from(HUGE),
    st.sampled_from(["prod", "staging", "a", "ci", "push", "KEY=value", "k:v", "=", "--"]),
    st.sampled_from(sorted({flag for flags in FLAGS.values() for flag in flags})),
    st.text(max_size=40).filter(lambda t: "\x00" not in t),
)


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(FLAGS)))
    words = draw(st.lists(st.one_of(tokens, st.sampled_from(FLAGS[command] or ["x"])), max_size=6))
    if command == "run":
        words.append("--offline")  # never fetch an action from outside this machine
    return [command, *words]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A repository with one finished run in its record, so that commands reading runs
    get past "no runs recorded yet"."""
    root = tmp_path_factory.mktemp("fuzz") / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text(HELLO)
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "dev@example.com"],
        ["config", "user.name", "Dev"],
        ["add", "-A"],
        ["commit", "-q", "-m", "start"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    environ = {k: v for k, v in os.environ.items() if k.startswith("STAGELINE_")}
    for key in environ:
        del os.environ[key]
    assert _invoke(root, ["run"]) == 0
    yield root
    os.environ.update(environ)


def _invoke(root: Path, argv: list[str]) -> int:
    """`stageline ARGV` in `root`, as the console script runs it; its exit code. Any
    exception but `SystemExit` propagates: it is the traceback a user would get."""
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    sys.argv, code = ["stageline", *argv], 0
    os.chdir(root)
    try:
        main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
    return code


def _lay(root: Path, files: dict[str, bytes | str]) -> None:
    for place in PLACES:
        target = root / place
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    (root / ".github" / "workflows" / "ci.yml").write_text(HELLO)
    for place, content in files.items():
        target = root / place
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8", errors="surrogateescape")
        else:
            target.write_bytes(content)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    argv=command_lines(),
    files=st.dictionaries(st.sampled_from(PLACES), contents, max_size=4),
)
def test_no_command_ends_in_a_traceback(
    repo: Path, capfd: pytest.CaptureFixture[str], argv: list[str], files: dict[str, bytes | str]
) -> None:
    _lay(repo, files)
    code = _invoke(repo, argv)
    out, err = capfd.readouterr()
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code:
        assert err.strip() or out.strip(), f"{argv} exited {code} without a word"

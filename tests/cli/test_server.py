"""`stageline repo add`, `user add`, `token create` on a data dir, as a user types them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stageline.app import accounts
from stageline.app.serverdata import open_server
from tests.support.server import environ, make_source, stageline


def test_repo_user_and_token_commands_act_on_the_data_dir(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    make_source(tmp_path / "web", {"a.txt": "a"})
    (tmp_path / "secret").write_text("hook-secret\n")
    added = stageline(
        "repo", "add", "web", "--url", str(tmp_path / "web"),
        "--webhook-secret-file", str(tmp_path / "secret"), "--data-dir", data,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(f"added repository web ({tmp_path / 'web'})")

    user = stageline(
        "user", "add", "alice", "--role", "reviewer", "--email", "Alice@Example.com",
        "--email", "a@x.org", "--password-stdin", "--data-dir", data,
        stdin="pass word\n",
    )  # fmt: skip
    assert user.returncode == 0, user.stderr
    assert user.stdout.strip() == "added reviewer alice <a@x.org, alice@example.com>"

    token = stageline("token", "create", "--user", "alice", "--expires", "7d", "--data-dir", data)
    assert token.returncode == 0, token.stderr
    plaintext = token.stdout.splitlines()[-1]
    assert plaintext.startswith("slt_") and " " not in plaintext
    assert "shown only this once" in token.stdout

    with open_server(data) as server:
        repo = server.store.server.get_repo("web")
        assert repo is not None and repo.webhook_secret == "hook-secret"
        alice = accounts.authenticate_token(server, plaintext)
        assert alice is not None and alice.name == "alice"
        assert accounts.authenticate_password(server, "alice", "pass word") == alice
        [row] = server.store.server.list_tokens(alice.id)
        assert row.expires_at is not None


def test_mistakes_are_one_line_errors_without_a_traceback(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    cases = [
        (("user", "add", "bob", "--role", "boss", "--data-dir", data), "unknown role 'boss'"),
        (("token", "create", "--user", "nobody", "--data-dir", data), "no user named 'nobody'"),
        (("repo", "add", "web", "--url", "ssh://x/y", "--data-dir", data), "unsupported"),
        (
            (
                "repo",
                "add",
                "web",
                "--url",
                "x",
                "--webhook-secret-file",
                "/nonexistent",
                "--data-dir",
                data,
            ),
            "cannot read a secret from /nonexistent",
        ),
        (
            ("user", "add", "bob", "--role", "admin", "--password-stdin", "--data-dir", data),
            "no password",
        ),
        (
            (
                "token",
                "create",
                "--user",
                "x",
                "--data-dir",
                data,
                "--database-url",
                "mysql://h/db",
            ),
            "unsupported database URL",
        ),
    ]
    for args, message in cases:
        done = stageline(*args, stdin="")
        assert done.returncode == 1, (args, done.stdout)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert done.stderr.splitlines()[0].startswith("error: ")


def test_the_server_commands_do_not_load_the_web_stack(tmp_path: Path) -> None:
    probe = (
        "import json, sys\n"
        "sys.argv = ['stageline', 'token', 'create', '--help']\n"
        "from stageline.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('fastapi', 'uvicorn', 'starlette', 'argon2')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=environ(), check=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []

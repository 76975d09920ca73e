"""The repositories page and its registration form, against a real `stageline serve`
and real git repositories."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.server.web.serving import World, log_in
from tests.support.git import git


def _new_repo(tmp_path: Path, name: str) -> Path:
    work = tmp_path / name
    (work / ".github" / "workflows").mkdir(parents=True)
    (work / ".github" / "workflows" / "ci.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n"
    )
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    git(work, "add", "-A")
    git(work, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "x")
    return work


def _row(page: str, name: str) -> str:
    return page.split(f'data-repo="{name}"')[1].split("</tr>")[0]


def test_everyone_signed_in_sees_the_repositories_and_their_last_event(
    client: httpx.Client, world: World
) -> None:
    csrf = log_in(client, "eve")
    page = client.get("/repos")
    assert page.status_code == 200
    assert f"<code>{world.bare}</code>" in _row(page.text, "shop")
    assert 'id="add-repo"' not in page.text  # eve is no admin
    refused = client.post("/repos", data={"csrf_token": csrf, "name": "x", "url": "/tmp"})
    assert refused.status_code == 403
    csrf = log_in(client, "dave")
    form = {"csrf_token": csrf, "repo": "shop", "workflow": "hello.yml", "input.who": "x"}
    assert client.post("/dispatch", data=form).status_code == 303
    row = _row(client.get("/repos").text, "shop")
    assert "workflow_dispatch" in row and "s-started" in row


def test_an_admin_registers_a_repository_audited(
    client: httpx.Client, world: World, tmp_path: Path
) -> None:
    source = _new_repo(tmp_path, "billing")
    csrf = log_in(client, "admin")
    assert 'id="add-repo"' in client.get("/repos").text
    form = {"csrf_token": csrf, "name": "billing", "url": str(source), "webhook_secret": "s"}
    added = client.post("/repos", data=form)
    assert added.status_code == 303, added.text
    page = client.get(added.headers["location"]).text
    assert "billing registered." in page
    row = _row(page, "billing")
    assert f"<code>{source}</code>" in row and "signed" in row and "none yet" in row
    assert (world.data_dir / "mirrors" / "billing.git" / "HEAD").is_file()
    api = client.get("/api/v1/repos/billing").json()
    assert api["url"] == str(source) and api["has_webhook_secret"] is True
    audit = client.get("/audit").text
    assert "repo.add" in audit and "billing" in audit


def test_refusals_come_back_in_the_form(client: httpx.Client, tmp_path: Path) -> None:
    csrf = log_in(client, "admin")
    plain = tmp_path / "not-git"
    plain.mkdir()
    cases = {
        ("bad name!", str(plain)): "invalid repository name",
        ("ghost", str(tmp_path / "missing")): "no repository at",
        ("plain", plain.as_uri()): "git clone failed",
        ("insecure", "ssh://127.0.0.1/x.git"): "unsupported repository URL",
        ("shop", str(_new_repo(tmp_path, "again"))): "already registered",
    }
    for (name, url), message in cases.items():
        form = {"csrf_token": csrf, "name": name, "url": url}
        refused = client.post("/repos", data=form)
        assert refused.status_code == 400, (name, refused.text)
        assert message in refused.text.split('role="alert">')[1].split("</div>")[0]
        assert f'value="{url}"' in refused.text  # what was typed stays in the form
    names = [r["name"] for r in client.get("/api/v1/repos").json()]
    assert "ghost" not in names and "plain" not in names

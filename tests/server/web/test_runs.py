"""The run pages over HTTP, against a real `stageline serve` whose repository is pushed
to through the installed hook: what is on the page without JavaScript, the live SSE
streams, who sees the approval panel, what the decision form refuses, trigger events
that started nothing, and the environments page's rollback refusal."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.server.web.serving import Server, World, log_in, wait_for
from tests.support.git import git

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def first_run(world: World, server: Server) -> Iterator[int]:
    """Push v1 and wait until its run waits for production's approval; its id."""
    world.install_hook(server.url)
    world.push("v1")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        log_in(http, "bob")
        found: list[int] = []

        def waiting() -> bool:
            ids = re.findall(r'data-run="(\d+)"', http.get("/").text)
            if ids:
                found[:] = [int(ids[0])]
                return 'id="approval-production"' in http.get(f"/runs/{ids[0]}").text
            return False

        wait_for(waiting, 90, "the run to wait for production")
    yield found[0]


def sse_events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of an SSE response, as they arrive."""
    return ((name, data) for name, data, _ in sse_messages(response))


def sse_messages(response: httpx.Response) -> Iterator[tuple[str, str, str]]:
    """(event, data, id) of an SSE response, as they arrive."""
    name, data, id = "", [], ""
    for line in response.iter_lines():
        if line.startswith("id: "):
            id = line[len("id: ") :]
        elif line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif not line and name:
            yield name, "\n".join(data), id
            name, data, id = "", [], ""


def test_the_run_page_is_complete_without_javascript(client: httpx.Client, first_run: int) -> None:
    log_in(client, "dave")
    page = client.get(f"/runs/{first_run}").text
    columns = re.findall(r'<div class="stage">\s*<h3>stage (\d)</h3>', page)
    assert columns == ["1", "2", "3", "4"]
    assert 'data-job="test" data-status="success"' in page
    assert page.count("/job?key=test.") == 2  # the matrix legs, in one box
    assert 'data-job="deploy-production" data-status="waiting"' in page
    assert "unused import" in page  # the annotation
    assert "<h3>Build report</h3>" in page and "&lt;b&gt;compiled&lt;/b&gt;" in page
    job = client.get(f"/runs/{first_run}/job?key=build").text
    assert '<span class="fg-2">compiled</span> &lt;all&gt; files' in job
    # the group folds (closed, as the log closed it), numbered as in the log
    assert re.search(r'<details ><summary class="ln" data-n="\d+">Compiler output<', job)
    assert 'class="ln a-warning"' in job


def test_only_reviewers_named_by_the_rules_get_the_form(
    client: httpx.Client, first_run: int
) -> None:
    csrf = log_in(client, "dave")
    page = client.get(f"/runs/{first_run}").text
    assert "1 of @release-managers (alice, bob)" in page
    assert "You are not a reviewer of this gate." in page
    assert f'action="/runs/{first_run}/decide"' not in page
    refused = client.post(
        f"/runs/{first_run}/decide", data={"verdict": "approve", "csrf_token": csrf}
    )
    assert refused.status_code == 403  # a developer, whatever the form says


def test_a_decision_needs_its_csrf_token(client: httpx.Client, first_run: int) -> None:
    log_in(client, "bob")
    refused = client.post(f"/runs/{first_run}/decide", data={"verdict": "approve"})
    assert refused.status_code == 403
    assert 'id="approval-production"' in client.get(f"/runs/{first_run}").text


def test_the_runs_list_page_polls_its_table(client: httpx.Client, first_run: int) -> None:
    log_in(client, "dave")
    page = client.get("/?repo=shop").text
    assert 'hx-get="/runs/table?repo=shop" hx-trigger="every 2s"' in page
    table = client.get("/runs/table?repo=shop").text
    assert table.startswith('<table id="runs">')
    assert f'<tr data-run="{first_run}">' in table and "waiting" in table
    assert client.get("/runs/table?repo=nosuch").status_code == 404


def test_a_finished_jobs_stream_sends_its_log_then_done(server: Server, first_run: int) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        log_in(http, "dave")
        with http.stream("GET", f"/runs/{first_run}/job/stream?key=build") as response:
            events = list(sse_events(response))
    assert [name for name, _ in events] == ["log", "done"]
    assert "progress 10" in events[0][1]


def test_a_waiting_runs_stream_resumes_with_what_the_browser_holds(
    server: Server, first_run: int
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        log_in(http, "bob")
        with http.stream("GET", f"/runs/{first_run}/stream") as response:
            messages = sse_messages(response)
            first, second = next(messages), next(messages)
        assert {first[0], second[0]} == {"body", "panel"}
        assert 'id="approval-production"' in (first if first[0] == "panel" else second)[1]
        headers = {"last-event-id": second[2]}
        with http.stream("GET", f"/runs/{first_run}/stream", headers=headers) as again:
            names = [name for name, _, _ in sse_messages(again)]  # until its lifetime ends
    # the body shows the run's age, so it changes; the panel being typed in did not
    assert "panel" not in names


def test_unknown_runs_and_jobs_are_404(client: httpx.Client, first_run: int) -> None:
    log_in(client, "dave")
    assert client.get("/runs/999").status_code == 404
    assert client.get(f"/runs/{first_run}/job?key=nope").status_code == 404
    page = client.get("/runs/999", headers={"accept": "text/html"})
    assert page.status_code == 404 and "Not found" in page.text


def test_a_push_that_starts_nothing_shows_why(
    world: World, client: httpx.Client, first_run: int
) -> None:
    git(world.work, "checkout", "-q", "-b", "feature")
    world.push_branch("feature", "wip")
    log_in(client, "dave")

    def listed() -> bool:
        return "refs/heads/feature" in client.get("/events").text

    wait_for(listed, 60, "the feature push in the events")
    page = client.get("/events").text
    row = (
        page.split("refs/heads/feature")[0].rsplit("<tr", 1)[1]
        + page.split("refs/heads/feature")[1].split("</tr>")[0]
    )
    assert "s-nothing" in row
    assert "branch" in row  # the reason names what did not match


def test_rolling_back_what_was_never_deployed_is_refused(client: httpx.Client) -> None:
    csrf = log_in(client, "bob")
    refused = client.post(
        "/environments/nowhere/rollback", data={"repo": "shop", "csrf_token": csrf}
    )
    assert refused.status_code == 409
    assert "nothing is deployed to nowhere" in refused.text
    log_in(client, "dave")
    denied = client.post("/environments/staging/rollback", data={"repo": "shop"})
    assert denied.status_code == 403


def test_dispatch_cancel_and_rerun_from_the_pages(client: httpx.Client, first_run: int) -> None:
    csrf = log_in(client, "dave")
    assert 'id="dispatch"' in client.get("/").text
    form = {"repo": "shop", "workflow": "hello.yml", "csrf_token": csrf}
    nothing = client.post("/dispatch", data={**form, "workflow": "deliver.yml"})
    assert nothing.status_code == 422 and "workflow_dispatch" in nothing.text
    started = client.post("/dispatch", data={**form, "input.who": "web", "input.nap": "60"})
    assert started.status_code == 303, started.text
    run_url = started.headers["location"]
    run_id = int(run_url.rsplit("/", 1)[1])

    def greeted() -> bool:
        return "hello web" in client.get(f"/runs/{run_id}/job?key=greet").text

    wait_for(greeted, 30, "the running step's log to show")  # long before its 60 s nap ends
    assert f'action="/runs/{run_id}/cancel"' in client.get(run_url).text
    assert client.post(f"/runs/{run_id}/cancel", data={"csrf_token": csrf}).status_code == 303

    def cancelled() -> bool:
        return 'id="run-state">cancelled<' in client.get(run_url).text

    wait_for(cancelled, 60, "the run to be cancelled")
    again = client.post(f"/runs/{run_id}/rerun", data={"csrf_token": csrf, "failed_only": "true"})
    assert again.status_code == 303
    assert again.headers["location"] != run_url
    log_in(client, "bob")
    assert client.get("/audit").status_code == 403  # bob is no admin
    log_in(client, "admin")
    audit = client.get("/audit").text
    assert "run.cancel" in audit and "run.rerun" in audit


def test_a_viewer_sees_no_controls(client: httpx.Client, first_run: int) -> None:
    log_in(client, "dave")
    assert f'action="/runs/{first_run}/cancel"' in client.get(f"/runs/{first_run}").text
    log_in(client, "eve")
    page = client.get(f"/runs/{first_run}").text
    assert "/cancel" not in page and 'id="dispatch"' not in client.get("/").text


def test_ids_out_of_range_are_refused_not_crashed(client: httpx.Client) -> None:
    log_in(client, "admin")
    for path in ("/runs/99999999999999999999", "/runs/0", "/events?before=99999999999999999"):
        assert client.get(path).status_code == 422, path


def test_a_failed_monitor_shows_on_the_environments_page(
    client: httpx.Client, first_run: int
) -> None:
    csrf = log_in(client, "dave")
    form = {"repo": "shop", "workflow": "canary.yml", "csrf_token": csrf}
    started = client.post("/dispatch", data=form)
    assert started.status_code == 303, started.text
    run_url = started.headers["location"]

    def failed() -> bool:
        return 'id="run-state">failure<' in client.get(run_url).text

    wait_for(failed, 60, "the canary's monitor to fail its deployment")
    page = client.get("/environments?repo=shop").text
    canary = page.split('id="env-canary"')[1].split("</section>")[0]
    assert "Monitor: smoke" in canary and "rollback: manual" in canary
    assert '<div class="monitor-failed">smoke: ' in canary
    assert "rollback mode is manual" in canary
    staging = page.split('id="env-staging"')[1].split("</section>")[0]
    assert "monitor passed" not in staging  # staging has no monitor

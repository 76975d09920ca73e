"""The web UI in a real browser: Debian's Chromium driven by Playwright, against a real
`stageline serve` whose repository is pushed to with git through the installed hook.

One story, as a team lives it: alice logs in and watches the run her push started
appear and go live, follows a job's log as it is written, is refused when she approves
her own production deploy, and bob approves it; after a second release, staging is
rolled back from the environments page. Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from stageline.server.web.live import LIFETIME_S
from tests.server.web.serving import PASSWORD, Server, World

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
#: How long the browser waits for something live to show (ms).
LIVE_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        "Debian's chromium is missing: apt-get install -y chromium (.ci/run does)"
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def log_in(page: Page, server: Server, name: str) -> None:
    page.goto(f"{server.url}/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("header.top .who")).to_contain_text(f"{name} (")


def test_a_release_from_push_to_rollback(
    browser: Browser, world: World, server: Server, shots: Path
) -> None:
    world.install_hook(server.url)
    context = browser.new_context()
    page = context.new_page()
    expect.set_options(timeout=LIVE_MS)

    # alice logs in: the runs list is empty, and stays open while she pushes
    log_in(page, server, "alice")
    expect(page.locator("#runs")).to_contain_text("No runs yet")
    page.screenshot(path=shots / "01-runs-empty.png", full_page=True)

    world.push("v1")
    row = page.locator("#runs tbody tr[data-run]")
    expect(row).to_have_count(1)  # arrived over SSE, without a reload
    expect(row).to_contain_text("Deliver")
    page.screenshot(path=shots / "02-run-appeared.png", full_page=True)

    # the run page: the job graph by stage, matrix legs in one box
    row.locator("a").first.click()
    stages = page.locator("#graph .stage")
    expect(stages).to_have_count(4)
    expect(stages.nth(1).locator(".node[data-job=test] li")).to_have_count(2)

    # follow build's log while it is written
    page.locator("#graph .node[data-job=build] a").first.click()
    log = page.locator("#job-log")
    expect(log).to_contain_text("progress 2")
    assert "progress 10" not in log.inner_text()  # lines arrive as they are written
    expect(log).to_contain_text("progress 10")
    expect(page.locator("#job-state")).to_have_text("success")
    group = page.locator("#job-log .log details", has_text="Compiler output")
    expect(group.locator("span.fg-2")).to_have_text("compiled")
    expect(group).to_contain_text("<all> files")
    expect(page.locator("#job-log .annotation.l-warning")).to_contain_text("unused import")
    expect(page.locator("#job-log .summary h3")).to_have_text("Build report")
    expect(page.locator("#job-log .summary")).to_contain_text("<b>compiled</b>")
    page.screenshot(path=shots / "03-build-log.png", full_page=True)

    # production waits; alice authored the commit, so her approval is refused
    page.go_back()
    run_url = page.url
    panel = page.locator("#approval-production")
    expect(panel).to_contain_text("1 of @release-managers (alice, bob)")
    comment = panel.locator("textarea[name=comment]")
    comment.fill("looks good to me")
    page.wait_for_timeout((LIFETIME_S + 2) * 1000)  # the stream ends and resumes meanwhile
    expect(comment).to_have_value("looks good to me")
    panel.locator("button[value=approve]").click()
    expect(page.locator(".error-box")).to_contain_text("self-review is not allowed")
    page.screenshot(path=shots / "04-author-refused.png", full_page=True)

    # bob approves as the second reviewer: the run goes on to production and succeeds
    page.locator("header form button").click()
    log_in(page, server, "bob")
    page.goto(run_url)
    panel = page.locator("#approval-production")
    expect(panel).to_contain_text("Decided so far: nobody yet")  # alice's did not count
    panel.locator("textarea[name=comment]").fill("ship it")
    panel.locator("button[value=approve]").click()
    expect(page.locator("#run-state")).to_have_text("success")
    expect(page.locator("#graph .node[data-job=deploy-production]")).to_have_attribute(
        "data-status", "success"
    )
    page.screenshot(path=shots / "05-approved.png", full_page=True)

    # a second release reaches staging; bob rolls staging back to the first
    world.push("v2")
    page.goto(f"{server.url}/")
    expect(page.locator("#runs tbody tr[data-run]")).to_have_count(2)
    page.goto(f"{server.url}/environments")
    staging = page.locator("#env-staging")
    rows = staging.locator("tr[data-deployment]")
    for _ in range(LIVE_MS // 500):  # this page is not live: reload until v2 is deployed
        if rows.count() == 2 and "success" in rows.first.inner_text():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(rows).to_have_count(2)
    expect(rows.first.locator(".badge")).to_have_text("success")
    first = rows.nth(1)  # newest first: the older deployment is the second row
    first_id = first.get_attribute("data-deployment")
    expect(staging.locator("svg.chart rect.good")).to_have_count(1)
    page.screenshot(path=shots / "06-environments.png", full_page=True)
    first.locator("button").click()
    expect(page.locator(".notice-box")).to_contain_text("staging rolled back")
    staging = page.locator("#env-staging")
    expect(staging.locator("tr[data-deployment]").first).to_contain_text("rollback")
    expect(staging).to_contain_text(f"restores #{first_id}")
    page.screenshot(path=shots / "07-rolled-back.png", full_page=True)
    context.close()
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "01-runs-empty.png",
        "02-run-appeared.png",
        "03-build-log.png",
        "04-author-refused.png",
        "05-approved.png",
        "06-environments.png",
        "07-rolled-back.png",
    ]

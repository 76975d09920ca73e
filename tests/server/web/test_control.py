"""The typed `workflow_dispatch` form, against a real `stageline serve`: a workflow
pushed after the server started, its boolean, choice, number and string inputs as
fields, and a run that receives them typed."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from tests.server.web.serving import World, log_in, wait_for

TYPED = """name: Typed
on:
  workflow_dispatch:
    inputs:
      dry: {type: boolean, default: true, description: Only pretend}
      level: {type: choice, options: [low, high], default: low}
      count: {type: number, default: 2}
      note: {type: string, required: true}
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo 'got ${{ toJSON(inputs) }}' | tr -d '\\n '
"""


@pytest.fixture(scope="module")
def typed(world: World) -> str:
    """typed.yml pushed to the repository (no hook: the form's fetch must find it)."""
    (world.work / ".github" / "workflows" / "typed.yml").write_text(TYPED)
    return world.push("typed")


def _field(page: str, name: str) -> str:
    found = re.search(rf'<label class="input input-\w+">{name}\b.*?</label>', page, re.S)
    assert found, page
    return found.group(0)


def test_each_declared_input_is_a_typed_field(client: httpx.Client, typed: str) -> None:
    log_in(client, "dave")
    page = client.get("/dispatch", params={"repo": "shop", "workflow": "typed"})
    assert page.status_code == 200, page.text
    assert "<code>.github/workflows/typed.yml</code>" in page.text
    dry = _field(page.text, "dry")
    assert 'type="checkbox" name="input.dry" value="true" checked' in dry
    assert "Only pretend" in dry
    level = _field(page.text, "level")
    assert '<select name="input.level">' in level
    assert '<option value="low" selected>low</option>' in level
    assert '<option value="high">high</option>' in level
    count = _field(page.text, "count")
    assert 'type="number" step="any" name="input.count" value="2"' in count
    note = _field(page.text, "note")
    assert 'type="text" name="input.note" value="" required' in note and "*" in note


def test_a_dispatched_run_receives_typed_values(client: httpx.Client, typed: str) -> None:
    csrf = log_in(client, "dave")
    form = {
        "csrf_token": csrf,
        "repo": "shop",
        "workflow": "typed.yml",
        "input.level": "high",
        "input.count": "3",
        "input.note": "from the web",
    }  # fmt: skip  (dry left unchecked: false)
    started = client.post("/dispatch", data=form)
    assert started.status_code == 303, started.text
    run_id = int(started.headers["location"].rsplit("/", 1)[1])

    def logged() -> str | None:
        page = html.unescape(client.get(f"/runs/{run_id}/job?key=show").text)
        found = re.search(r"got(\{.*?\})", page)
        return found.group(1) if found else None

    wait_for(logged, 60, "the step to print its inputs")
    inputs = json.loads(logged() or "")
    assert inputs == {"dry": False, "level": "high", "count": 3, "note": "fromtheweb"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"input.count": "many", "input.note": "n"}, "input 'count' is a number"),
        ({"input.level": "medium", "input.note": "n"}, "must be one of its options"),
        ({"input.note": " "}, "input 'note' is required"),
    ],
)
def test_a_wrong_value_comes_back_in_the_form(
    client: httpx.Client, typed: str, fields: dict[str, str], message: str
) -> None:
    csrf = log_in(client, "dave")
    form = {"csrf_token": csrf, "repo": "shop", "workflow": "typed.yml", **fields}
    refused = client.post("/dispatch", data=form)
    assert refused.status_code == 400
    alert = refused.text.split('role="alert">')[1].split("</div>")[0]
    assert message in html.unescape(alert)
    assert 'id="dispatch-form"' in refused.text
    assert 'name="input.dry" value="true">' in refused.text  # as posted: unchecked


def test_a_workflow_not_run_by_hand_has_no_form(client: httpx.Client, typed: str) -> None:
    log_in(client, "dave")
    for workflow, message in (("deliver", "does not run on workflow_dispatch"),
                              ("nosuch.yml", "no workflow 'nosuch.yml' on main")):  # fmt: skip
        page = client.get("/dispatch", params={"repo": "shop", "workflow": workflow})
        assert page.status_code == 422 and message in html.unescape(page.text)
        assert 'id="dispatch-form"' not in page.text
    log_in(client, "eve")
    assert client.get("/dispatch?repo=shop&workflow=typed").status_code == 403

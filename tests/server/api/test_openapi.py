"""Schemathesis against the live server's OpenAPI document, with an admin token: no
request it generates gets a 5xx. A bounded number of examples per operation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.server.api.conftest import Team, running_team, wait_for

pytestmark = pytest.mark.slow

#: Examples per operation: enough for boundaries and odd strings, small enough for CI.
EXAMPLES = 25


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """A server holding one finished run (a follower of its logs ends at once)."""
    with running_team(Path(tmp_path_factory.mktemp("openapi")), None) as team:
        run = team.start_run()
        with team.client("bob") as api:

            def rejected() -> bool:
                decided = api.post(f"/runs/{run}/approvals", json={"decision": "reject"})
                return decided.status_code == 200

            wait_for(rejected, "the run to take bob's rejection")
            wait_for(lambda: api.get(f"/runs/{run}").json()["status"] == "completed", "the run")
        yield team


def test_no_request_gets_a_server_error(recorded: Team) -> None:
    loaded = schemathesis.openapi.from_url(f"{recorded.url}/api/v1/openapi.json")
    # revoking tokens would revoke the admin token the test itself sends
    chosen = loaded.exclude(method="DELETE", path_regex="^/api/v1/tokens/")
    headers = {"Authorization": f"Bearer {recorded.tokens['root']}"}
    labels: list[str] = []
    for result in chosen.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(base_url=recorded.url, headers=headers, timeout=30)
            case.validate_response(response, checks=[not_a_server_error])

        no_server_error()
    assert "POST /api/v1/runs/{run_id}/approvals" in labels
    assert "GET /api/v1/runs/{run_id}/jobs/{job}/logs/follow" in labels

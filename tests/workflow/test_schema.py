"""Our known-key tables against GitHub's own workflow schema (the vendored
`workflow/schema/workflow-v1.0.json` from `@actions/workflow-parser`), mapping by
mapping. When the vendored schema is updated, every key GitHub added fails here
until it is accepted, or listed below as not supported on purpose."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import pytest

from stageline.workflow import build, triggers

#: Schema keys Stageline deliberately does not accept yet, with the reason. Each is
#: still reported as an unknown key by `validate`.
NOT_SUPPORTED: dict[str, set[str]] = {
    # A cancellation grace period; jobs here are cancelled at once.
    "job": {"cancel-timeout-minutes"},
    # Preview step kinds (background steps and the wait/cancel/parallel steps that
    # coordinate them) that GitHub has not documented.
    "step": {"background", "wait", "wait-all", "cancel", "parallel"},
}
#: Keys we accept that the schema does not have, with the reason.
OURS_ONLY: dict[str, set[str]] = {}


@cache
def schema() -> dict[str, Any]:
    text = (files("stageline") / "workflow" / "schema" / "workflow-v1.0.json").read_text()
    definitions: dict[str, Any] = json.loads(text)["definitions"]
    return definitions


def keys(*names: str) -> set[str]:
    """The union of the property names of the schema's mapping definitions `names`,
    following ``one-of`` to the mapping variants."""
    found: set[str] = set()
    for name in names:
        definition = schema()[name]
        if "mapping" in definition:
            found |= set(definition["mapping"].get("properties", {}))
        for variant in definition.get("one-of", ()):
            if variant not in ("null", "string", "non-empty-string", "boolean"):
                found |= keys(variant)
    return found


def constants(name: str) -> set[str]:
    """The string values a schema definition allows (``one-of`` constants or
    ``allowed-values``)."""
    definition = schema()[name]
    if "allowed-values" in definition:
        return set(definition["allowed-values"])
    if "constant" in definition.get("string", {}):
        return {definition["string"]["constant"]}
    return set().union(*(constants(variant) for variant in definition.get("one-of", ())))


def assert_same(ours: object, theirs: set[str], what: str) -> None:
    accepted = set(ours)  # type: ignore[call-overload]
    expected = theirs - NOT_SUPPORTED.get(what, set()) | OURS_ONLY.get(what, set())
    assert sorted(accepted) == sorted(expected), (
        f"{what}: GitHub's schema has {sorted(expected - accepted)} that we reject, "
        f"we accept {sorted(accepted - expected)} that it does not"
    )


def event_definition(event: str) -> str:
    prop = schema()["on-mapping-strict"]["mapping"]["properties"][event]
    return prop if isinstance(prop, str) else str(prop["type"])


@pytest.mark.parametrize(
    ("ours", "definitions", "what"),
    [
        (build.WORKFLOW_KEYS, ["workflow-root-strict"], "workflow"),
        (build.JOB_KEYS, ["job-factory", "workflow-job"], "job"),
        (build.STEP_KEYS, ["steps-item"], "step"),
        (build.STRATEGY_KEYS, ["strategy"], "strategy"),
        (build.CONCURRENCY_KEYS, ["concurrency-mapping"], "concurrency"),
        (build.ENVIRONMENT_KEYS, ["job-environment-mapping"], "environment"),
        (build.DEFAULTS_RUN_KEYS, ["workflow-defaults-run"], "workflow defaults.run"),
        (build.DEFAULTS_RUN_KEYS, ["job-defaults-run"], "job defaults.run"),
        (build.RUNS_ON_KEYS, ["runs-on-mapping"], "runs-on"),
        (build.CONTAINER_KEYS, ["container-mapping"], "container"),
        (build.SERVICE_KEYS, ["service-container-mapping"], "service"),
        (build.CREDENTIALS_KEYS, ["container-registry-credentials"], "credentials"),
        (build.PERMISSIONS, ["permissions-mapping"], "permissions"),
        (triggers.EVENTS, ["on-mapping-strict"], "on"),
        (triggers.SCHEDULE_KEYS, ["cron-mapping"], "schedule entry"),
        (triggers.DISPATCH_INPUT_KEYS, ["workflow-dispatch-input"], "dispatch input"),
        (triggers.CALL_INPUT_KEYS, ["workflow-call-input-definition"], "call input"),
        (triggers.CALL_OUTPUT_KEYS, ["workflow-call-output-definition"], "call output"),
        (triggers.CALL_SECRET_KEYS, ["workflow-call-secret-definition"], "call secret"),
    ],
)
def test_known_keys_match_githubs_schema(ours: object, definitions: list[str], what: str) -> None:
    assert_same(ours, keys(*definitions), what)


@pytest.mark.parametrize("event", sorted(triggers.EVENTS))
def test_each_events_keys_match_githubs_schema(event: str) -> None:
    assert_same(triggers.event_keys(event), keys(event_definition(event)), f"on.{event}")


@pytest.mark.parametrize("scope", sorted(build.PERMISSIONS))
def test_permission_levels_match_githubs_schema(scope: str) -> None:
    level = schema()["permissions-mapping"]["mapping"]["properties"][scope]["type"]
    assert_same(build.PERMISSIONS[scope], constants(level), f"permissions.{scope}")


@pytest.mark.parametrize(
    ("ours", "definition"),
    [
        (triggers.DISPATCH_TYPES, "workflow-dispatch-input-type"),
        (triggers.CALL_TYPES, "workflow-call-input-type"),
        (build.QUEUE_MODES, "concurrency-queue"),
    ]
    + [
        (types, f"{event.replace('_', '-')}-activity-type")
        for event, types in sorted(triggers.ACTIVITY_TYPES.items())
    ],
)
def test_allowed_values_match_githubs_schema(ours: object, definition: str) -> None:
    assert_same(ours, constants(definition), definition)


def test_the_schema_is_shipped_as_package_data() -> None:
    readme = (files("stageline") / "workflow" / "schema" / "README.md").read_text()
    assert "@actions/workflow-parser" in readme
    assert "MIT" in readme
    assert schema()["workflow-root-strict"]["mapping"]["properties"]["jobs"]["required"]

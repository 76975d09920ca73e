"""The expression contexts a run gives its jobs, built as GitHub builds them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stageline.plan.model import Event, Plan, Scalar

SERVER_URL = "https://github.com"
API_URL = "https://api.github.com"
GRAPHQL_URL = "https://api.github.com/graphql"


def ref_parts(ref: str) -> tuple[str, str]:
    """`(ref_name, ref_type)` of a full ref, as `github.ref_name`/`ref_type` give them."""
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            return ref[len(prefix) :], kind
    if ref.startswith("refs/pull/"):
        return ref[len("refs/") :], "branch"
    return ref, ""


def github_context(plan: Plan, *, run_id: int, run_number: int, attempt: int = 1) -> dict[str, Any]:
    """`github` for a run (GitHub gives ids and numbers as strings); `job` and
    `workspace` are per job (`job_github`, and the runner fills `workspace`)."""
    event: Event = plan.event
    ref_name, ref_type = ref_parts(event.ref)
    owner = event.repository.split("/", 1)[0] if "/" in event.repository else ""
    payload = event.payload
    pull = payload.get("pull_request") if isinstance(payload, dict) else None
    head_ref = base_ref = ""
    if isinstance(pull, dict):
        head_ref = str((pull.get("head") or {}).get("ref", ""))
        base_ref = str((pull.get("base") or {}).get("ref", ""))
    return {
        "event_name": event.name,
        "event": payload,
        "ref": event.ref,
        "ref_name": ref_name,
        "ref_type": ref_type,
        "ref_protected": False,
        "head_ref": head_ref,
        "base_ref": base_ref,
        "sha": event.sha,
        "repository": event.repository,
        "repository_owner": owner,
        "repositoryUrl": f"git://github.com/{event.repository}.git" if event.repository else "",
        "actor": event.actor,
        "triggering_actor": event.actor,
        "run_id": str(run_id),
        "run_number": str(run_number),
        "run_attempt": str(attempt),
        "retention_days": "90",
        "workflow": plan.workflow_name,
        "workflow_ref": f"{event.repository}/{plan.workflow_path}@{event.ref}",
        "workflow_sha": event.sha,
        "server_url": SERVER_URL,
        "api_url": API_URL,
        "graphql_url": GRAPHQL_URL,
        "token": "",
        "job": "",
        "action": "",
        "workspace": "",
    }


def needs_context(
    needs: list[str], results: Mapping[str, str], outputs: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """`needs`: for each job id needed, its (matrix-aggregated) result and outputs."""
    return {
        job_id: {"result": results.get(job_id, "skipped"), "outputs": dict(outputs.get(job_id, {}))}
        for job_id in needs
    }


def evaluate_if(condition: str | None, contexts: Mapping[str, Any], status: str) -> bool:
    """A job's `if:` (no condition means `success()`); `status` from `runs.rules.job_status`."""
    if condition is None or not str(condition).strip():
        return status == "success"
    from stageline.expressions import evaluate_condition

    return bool(evaluate_condition(str(condition), dict(contexts), status=status))


def evaluate_value(value: Scalar | str, contexts: Mapping[str, Any]) -> Any:
    """A scalar that may hold `${{ }}` (continue-on-error, fail-fast, a group name)."""
    if not isinstance(value, str) or "${{" not in value:
        return value
    from stageline.expressions import evaluate_template

    return evaluate_template(value, dict(contexts))


def truthy(value: Any) -> bool:
    """GitHub's coercion of an evaluated flag (`'false'` and `''` are false)."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0")
    return bool(value)

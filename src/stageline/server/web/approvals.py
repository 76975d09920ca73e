"""The approval panel of a waiting run: the rules, the decisions, and who may decide.

The panel says which rules apply (N of M, teams expanded), who has decided, and shows
the form only to a user who may decide: a reviewer (or admin) named by one of the
rules, directly or through a team, or any reviewer when the rules name no one. Whether
a decision counts (self-review, N of M) is `app.gates`' to say when it is made
(`decisions`), against the run's author as `run_author` names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stageline.app.accounts import Role
from stageline.server.web import deps

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.deploy.config import StagelineConfig
    from stageline.store.deploy_records import DecisionRow, GateRow
    from stageline.store.records import RunDetail


@dataclass(frozen=True, slots=True)
class Panel:
    gate: GateRow
    #: One line per rule: "2 of alice, bob (team @ops: carol)".
    rules: list[str]
    decisions: list[DecisionRow]
    author: str
    self_review: bool
    can_decide: bool


def run_config(server: ServerData, detail: RunDetail) -> StagelineConfig:
    """The `.stageline.yml` of the commit the run was planned from."""
    from stageline.app import repos
    from stageline.deploy.config import load_config

    link = server.store.server.run_link(detail.run.id)
    repo = server.store.server.get_repo_by_id(link.repo_id) if link else None
    if repo is None:
        return load_config(detail.run.repo_path)
    return load_config(repos.checkout(server, repo, detail.run.sha, detail.run.ref))


def run_author(server: ServerData, run_id: int, fallback: str) -> str:
    """Whose run this is: the pushed commit's author as a user, else who started it."""
    link = server.store.server.run_link(run_id)
    if link is None:
        return fallback
    user = server.store.server.user_for_email(link.author_email) if link.author_email else None
    return user.name if user else (link.started_by or fallback)


def panels(server: ServerData, detail: RunDetail, who: deps.Me) -> list[Panel]:
    """A panel for each gate the run waits on (none when it waits on nothing)."""
    from stageline.deploy.gates import expand

    pending = server.store.deployments.gates_of_run(detail.run.id, status="pending")
    if not pending:
        return []
    config = run_config(server, detail)
    author = run_author(server, detail.run.id, detail.run.actor)
    out: list[Panel] = []
    for gate in pending:
        approval = config.environment(gate.environment).approval
        rules = approval.rules if approval and gate.kind == "approval" else []
        named = {p for rule in rules for p in expand(rule.reviewers, config.teams)}
        lines = []
        for rule in rules:
            people = ", ".join(expand(rule.reviewers, config.teams))
            written = ", ".join(rule.reviewers)
            lines.append(
                f"{rule.required} of {written}" + (f" ({people})" if people != written else "")
            )
        may = who.role >= Role.REVIEWER and (not named or who.name in named)
        self_review = bool(approval and approval.prevent_self_review and gate.kind == "approval")
        out.append(
            Panel(
                gate,
                lines,
                server.store.deployments.decisions(gate.id),
                author,
                self_review,
                may,
            )
        )
    return out


__all__ = ["Panel", "panels", "run_author", "run_config"]

"""The approval panel of a waiting run: the rules, the decisions, and who may decide.

The panel says which rules apply (N of M, teams expanded), who has decided, and shows
the form only to a user who may decide: a reviewer (or admin) named by one of the
rules, directly or through a team, or any reviewer when the rules name no one. Whether
a decision counts (self-review, N of M) is `app.gates`' to say when it is made
(`decisions`), against the run's author as `app.served.run_author` names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stageline.app import served
from stageline.app.accounts import Role
from stageline.server.web import deps

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.store.deploy_records import DecisionRow, GateRow
    from stageline.store.records import RunDetail


@dataclass(frozen=True, slots=True)
class Panel:
    gate: GateRow
    #: One line per rule: "2 of alice, bob (team @ops: carol)".
    rules: list[str]
    decisions: list[DecisionRow]
    #: Ids of the decisions that do not count (not a reviewer the rules name, or self-review).
    ignored: set[int]
    author: str
    self_review: bool
    can_decide: bool


def panels(server: ServerData, detail: RunDetail, who: deps.Me) -> list[Panel]:
    """A panel for each gate the run waits on (none when it waits on nothing)."""
    from stageline.deploy.gates import expand

    pending = server.store.deployments.gates_of_run(detail.run.id, status="pending")
    if not pending:
        return []
    config = served.run_context(server, detail.run.id).config
    author = served.run_author(server, detail.run.id) or detail.run.actor
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
        decisions = server.store.deployments.decisions(gate.id)
        ignored = {
            d.id
            for d in decisions
            if (named and d.reviewer not in named)
            or (self_review and d.verdict == "approve" and d.reviewer == author)
        }
        out.append(Panel(gate, lines, decisions, ignored, author, self_review, may))
    return out


__all__ = ["Panel", "panels"]

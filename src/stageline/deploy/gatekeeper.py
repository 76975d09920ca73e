"""The engine's `Gatekeeper`: environment rules before a deploy job starts.

For a job with `environment: X`, in order:

1. a rollback of this job that a killed process left unfinished is completed first
   (`stageline resume`), and the job fails with what it did;
2. the deployment branch policy: a ref it does not allow fails the job with the reason;
3. the approval gate, one per run and environment (every job and matrix leg deploying
   to X in the run waits on the same gate and is let through by the same decision).
   The gate is a row in the store; decisions come from any process (`stageline
   approve/reject`, the prompt of an interactive `stageline run`) and are read back
   every `DeployRuntime.poll` seconds, one indexed query per gate.
   `gates.gate_state` decides (rules, self-review, wait timer, timeout → on_timeout,
   `auto_approve`); reminders due are announced once each. A resumed run re-enters
   its gate with the decisions recorded so far and its original request time;
4. the environment's secrets (`stageline secret set --env`) are read, to be released to
   the job with the decision: never before its gate passed, as on GitHub;
5. the deployment queue: the job's deployment record is created and waits until no
   earlier deploy to X (in any process) is unfinished, then goes ``in_progress``;
   the job gets a ``stageline`` context (``rollback`` false, ``environment``,
   ``deployment``), as a rollback's re-run gets one with ``rollback`` true.

`hmarr/auto-approve-action` is the same mechanism: its step reports
``approval.auto``; `wiring.DeployObserver` records it as a decision by ``auto``
without a gate, naming the job that approved, and every gate of the run opened for a
job downstream of that job (through `needs`, transitively) sees it as one more
approval, which counts only where the environment has ``allow_action: true`` and
then only as the rules say (`gates.evaluate_gate`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stageline.deploy import deployments
from stageline.deploy.branches import branch_refusal
from stageline.deploy.config import EnvironmentConfig
from stageline.deploy.gates import (
    AUTO,
    Decision,
    GateRequest,
    GateState,
    action_not_allowed,
    gate_state,
)
from stageline.deploy.reviewers import local_origin
from stageline.deploy.rollback import complete
from stageline.deploy.runtime import DeployRuntime, now, sleep_or_cancel
from stageline.engine import hooks
from stageline.errors import StagelineError
from stageline.store.deploy_records import GateRow


@dataclass(slots=True)
class _SharedGate:
    """One gate of a run, awaited by every job deploying to its environment."""

    holds: list[hooks.Hold] = field(default_factory=list)
    text: str = ""
    task: asyncio.Task[GateState | None] | None = None

    def tell(self, text: str) -> None:
        self.text = text
        for hold in self.holds:
            if not hold.cancel.is_set():
                hold.wait(text)

    def abandoned(self) -> bool:
        return all(hold.cancel.is_set() for hold in self.holds)


class EnvironmentGatekeeper:
    """The `Gatekeeper` hook (see module doc)."""

    def __init__(
        self,
        rt: DeployRuntime,
        identity: Callable[[], str] | None = None,
        starter: str | None = None,
    ) -> None:
        self.rt = rt
        #: Who answers the interactive prompt (None: no prompt).
        self.identity = identity
        #: Who started the runs, as reviewers are named (`reviewers.who_am_i`); the run's
        #: `github.actor` when unknown. prevent_self_review refuses their approval.
        self.starter = starter
        self._gates: dict[tuple[int, str], _SharedGate] = {}
        self._ancestors: dict[int, dict[str, set[str]]] = {}

    async def admit(self, hold: hooks.Hold) -> hooks.Decision:
        assert hold.job.environment is not None
        rt = self.rt
        env = rt.config.environment(hold.job.environment.name)
        for rollback in rt.store.deployments.interrupted_rollbacks(
            run_id=hold.run_id, job_key=hold.job.key
        ):
            outcome = await complete(rt, env, rollback, wait=hold.wait, cancel=hold.cancel)
            return hooks.Decision(False, f"interrupted while rolling back; {outcome.reason}")
        github = hold.contexts.get("github") or {}
        refusal = branch_refusal(env.branches, str(github.get("ref") or ""))
        if refusal:
            rt.emit("gate.refused", hold.run_id, hold.job.key, environment=env.name, reason=refusal)
            return hooks.Decision(False, f"environment '{env.name}': {refusal}")
        if env.approval is not None:
            state = await self._await_gate(hold, env)
            if state is None:
                return hooks.Decision(False, "cancelled while waiting for approval")
            if state.status != "approved":
                return hooks.Decision(False, f"environment '{env.name}': {state.reason}")
        try:  # the gate passed: the environment's secrets are the job's now
            released = rt.store.secrets.values(rt.store.secrets.scope_of(rt.repo_dir), env.name)
        except StagelineError as err:
            return hooks.Decision(False, f"environment '{env.name}': {err.message}")
        deployment_id = await deployments.queue_and_start(rt, hold)
        if deployment_id is None:
            return hooks.Decision(False, "cancelled while queued for the environment")
        if isinstance(hold.contexts, dict):  # the very contexts the executor will get
            hold.contexts["stageline"] = {
                "rollback": False,
                "environment": env.name,
                "deployment": deployment_id,
            }
        return hooks.Decision(True, secrets=released)

    # -- the shared approval gate ------------------------------------------------------

    async def _await_gate(self, hold: hooks.Hold, env: EnvironmentConfig) -> GateState | None:
        shared = self._gates.setdefault((hold.run_id, env.name), _SharedGate())
        shared.holds.append(hold)
        if shared.text:
            hold.wait(shared.text)
        if shared.task is None:
            shared.task = asyncio.ensure_future(self._decide(hold, env, shared))
        stop = asyncio.ensure_future(hold.cancel.wait())
        try:
            await asyncio.wait({shared.task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not shared.task.done():
            return None
        return shared.task.result()

    async def _decide(
        self, hold: hooks.Hold, env: EnvironmentConfig, shared: _SharedGate
    ) -> GateState | None:
        rt = self.rt
        github = hold.contexts.get("github") or {}
        actor = self.starter or str(github.get("triggering_actor") or github.get("actor") or "")
        gate, created = rt.store.deployments.open_gate(hold.run_id, env.name, actor=actor)
        if gate.status in ("approved", "rejected"):  # decided before a resume
            return GateState(gate.status, gate.reason or gate.status, tuple(gate.decided_by))  # type: ignore[arg-type]
        request = GateRequest(
            environment=env.name,
            ref=str(github.get("ref") or ""),
            actor=gate.actor,
            requested_at=gate.requested_at,
            contexts={**hold.contexts, "stageline": deploy_window(env.name)},
        )
        if created:
            rt.emit(
                "approval.requested",
                hold.run_id,
                hold.job.key,
                environment=env.name,
                gate="approval",
                rules="; ".join(
                    f"{r.required} of {', '.join(r.reviewers)}"
                    for r in (env.approval.rules if env.approval else [])
                ),
                approve=f"stageline approve {hold.run_id} --env {env.name}",
            )
        seen: list[Decision] = []
        last = 0
        reminded = gate.reminders_sent
        prompt: asyncio.Task[None] | None = None
        try:
            while True:
                for row in rt.store.deployments.decisions(gate.id, after=last):
                    last = row.id
                    if row.verdict in ("approve", "reject"):
                        via = str(row.data.get("via") or "") or None
                        seen.append(Decision(row.reviewer, row.verdict, row.at, row.comment, via))  # type: ignore[arg-type]
                state = self._state(hold, env, request, seen)
                if state.status != "pending":
                    self._record(hold, env, gate, state)
                    return state
                if state.reminders_due > reminded:
                    reminded = state.reminders_due
                    rt.store.deployments.update_gate(gate.id, reminders_sent=reminded)
                    rt.emit(
                        "approval.reminded",
                        hold.run_id,
                        hold.job.key,
                        environment=env.name,
                        waiting_for=state.reason,
                        reminder=reminded,
                    )
                if state.reason != shared.text:
                    rt.store.deployments.update_gate(gate.id, reason=state.reason)
                    shared.tell(state.reason)
                local = env.approval is None or env.approval.where != "server"
                if prompt is None and local and rt.prompt is not None and self.identity is not None:
                    prompt = asyncio.ensure_future(self._ask(hold, env, gate))
                pause = rt.poll
                if state.wake_at is not None:
                    pause = min(pause, (state.wake_at - now()).total_seconds())
                await sleep_or_cancel(pause, None)
                if shared.abandoned():
                    return None
        finally:
            if prompt is not None:
                prompt.cancel()

    def _state(
        self,
        hold: hooks.Hold,
        env: EnvironmentConfig,
        request: GateRequest,
        seen: list[Decision],
    ) -> GateState:
        action = self._auto_approval(hold)
        return gate_state(self.rt.config, request, now=now(), decisions=seen, action=action)

    def _auto_approval(self, hold: hooks.Hold) -> Decision | None:
        """The approval of an upstream job's auto-approve step, if any (as a decision by
        AUTO naming the job; `gates.evaluate_gate` says whether it counts)."""
        approvals = self.rt.store.deployments.auto_approvals(hold.run_id)
        if not approvals:
            return None
        upstream = self._upstream(hold.run_id, hold.job.job_id)
        for row in approvals:
            if row.verdict == "approve" and row.source_job in upstream:
                return Decision(AUTO, "approve", row.at, f"job {row.source_job}")
        return None

    def action_counts(self, run_id: int, job_key: str) -> bool:
        """Whether an auto-approve step of job `job_key` can count at a gate of run
        `run_id`: a job downstream of it deploys to an environment whose approval rules
        count the action (`allow_action: true`, `gates.action_not_allowed`). Only then
        is it announced."""
        run = self.rt.store.runs.find_run(run_id)
        for job in (run.plan if run else {}).get("jobs") or []:
            target = job.get("environment") or {}
            approval = self.rt.config.environment(str(target.get("name") or "")).approval
            if not target or approval is None or action_not_allowed(approval) is not None:
                continue
            if job_key in self._upstream(run_id, str(job["job_id"])):
                return True
        return False

    def _upstream(self, run_id: int, job_id: str) -> set[str]:
        """Job keys and ids `job_id` needs, transitively (from the recorded plan)."""
        graph = self._ancestors.get(run_id)
        if graph is None:
            run = self.rt.store.runs.find_run(run_id)
            jobs: list[dict[str, Any]] = list((run.plan if run else {}).get("jobs") or [])
            needs = {str(j["job_id"]): {str(n) for n in j.get("needs") or []} for j in jobs}
            keys: dict[str, set[str]] = {}
            for j in jobs:
                keys.setdefault(str(j["job_id"]), set()).add(str(j["key"]))
            graph = {}
            for start in needs:
                found: set[str] = set()
                todo = list(needs[start])
                while todo:
                    current = todo.pop()
                    if current in found:
                        continue
                    found.add(current)
                    todo.extend(needs.get(current, ()))
                graph[start] = found | {k for f in found for k in keys.get(f, ())}
            self._ancestors[run_id] = graph
        return graph.get(job_id, set())

    def _record(
        self, hold: hooks.Hold, env: EnvironmentConfig, gate: GateRow, state: GateState
    ) -> None:
        rt = self.rt
        rt.store.deployments.update_gate(
            gate.id,
            status=state.status,
            reason=state.reason,
            decided_by=list(state.decided_by),
            decided_at=now(),
        )
        if state.timed_out:
            kind = "approval.timed_out"
        else:
            kind = "approval.granted" if state.status == "approved" else "approval.rejected"
        rt.emit(
            kind,
            hold.run_id,
            hold.job.key,
            environment=env.name,
            gate="approval",
            by=", ".join(state.decided_by),
            reason=state.reason,
            comment=state.comment,
        )

    async def _ask(self, hold: hooks.Hold, env: EnvironmentConfig, gate: GateRow) -> None:
        """The interactive prompt: a/r records a decision as the terminal's user."""
        assert self.rt.prompt is not None and self.identity is not None
        try:
            reviewer = self.identity()
        except StagelineError:
            return
        question = (
            f"Run {hold.run_id} waits for approval to deploy to {env.name}. "
            f"Type a (approve) or r (reject) and Enter to decide as {reviewer}."
        )
        answer = (await self.rt.prompt(question) or "").strip().lower()
        verdict = {"a": "approve", "approve": "approve", "r": "reject", "reject": "reject"}
        if answer in verdict:
            with contextlib.suppress(StagelineError):
                self.rt.store.deployments.record_decision(
                    hold.run_id,
                    gate.id,
                    reviewer,
                    verdict[answer],
                    comment="at the prompt of stageline run",
                    data=local_origin(self.rt.repo_dir),
                )


def deploy_window(environment: str) -> dict[str, Any]:
    """The `stageline` context of `auto_approve`: the environment and the time now (UTC),
    so an expression can say when deploys may go out by themselves."""
    moment = now()
    return {
        "environment": environment,
        "now": moment.isoformat(timespec="seconds"),
        "weekday": moment.strftime("%a"),
        "hour": moment.hour,
        "minute": moment.minute,
    }


__all__ = ["EnvironmentGatekeeper", "deploy_window"]

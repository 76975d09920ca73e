"""The bake window: after a deploy job succeeds, watch the environment before it counts.

`BakeWindow` is the engine's `AfterJob` hook. For a job that deployed (it holds an
open deployment of this process) it runs the environment's `monitor` window
(`deploy.monitors.watch`) while the job shows as *waiting*; the deployment stays
``in_progress`` and the jobs that need this one wait too (production waits for
staging's window). Then, by the window's verdict:

* passed → the deployment succeeds, the job's success stands;
* a check with ``on_fail: pause`` → a *pause* gate: the run waits for a person,
  `stageline approve RUN --env X` (continue: the deployment succeeds) or
  `stageline rollback X` / `reject` (roll back);
* a check with ``on_fail: rollback`` → with ``rollback.mode: auto`` (the default) the
  environment is rolled back now; with ``manual`` the deployment fails and waits for
  `stageline rollback X`. Either way the job fails with the check and what was done.

Every tripped check is announced as ``monitor.check_failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from stageline.deploy import deployments
from stageline.deploy.checks import CheckResult
from stageline.deploy.config import EnvironmentConfig
from stageline.deploy.monitors import MonitorVerdict, watch
from stageline.deploy.rollback import roll_back
from stageline.deploy.runtime import DeployRuntime, sleep_or_cancel
from stageline.durations import format_duration
from stageline.engine.hooks import Hold
from stageline.executors.base import JobResult
from stageline.runs.states import Conclusion
from stageline.store.deploy_records import UNFINISHED


class BakeWindow:
    """The `AfterJob` hook (see module doc)."""

    def __init__(self, rt: DeployRuntime) -> None:
        self.rt = rt

    async def after_job(self, hold: Hold, result: JobResult) -> JobResult:
        rt = self.rt
        key = (hold.run_id, hold.job.key)
        deployment_id = rt.open.get(key)
        if deployment_id is None or hold.job.environment is None:
            return result
        deployments.record_url(rt, hold.run_id, hold.job.key, result.environment_url)
        env = rt.config.environment(hold.job.environment.name)
        monitor = env.monitor
        if monitor is None or not monitor.checks or not monitor.duration:
            deployments.finish(rt, hold.run_id, hold.job.key, "success")
            return result
        hold.wait(
            f"bake window: monitoring {env.name} for {format_duration(monitor.duration)} "
            f"({', '.join(c.name for c in monitor.checks)})"
        )
        verdict = await self._watch(hold, env)
        if verdict is None:  # cancelled
            deployments.finish(rt, hold.run_id, hold.job.key, "failure", "cancelled while baking")
            return JobResult(Conclusion.CANCELLED, result.outputs, reason="cancelled")
        if verdict.passed:
            deployments.finish(rt, hold.run_id, hold.job.key, "success")
            return result
        to: int | None = None
        by = "auto"
        if verdict.outcome == "pause":
            decided = await self._pause(hold, env, deployment_id, verdict)
            if decided is None:
                deployments.finish(
                    rt, hold.run_id, hold.job.key, "failure", "cancelled while paused"
                )
                return JobResult(Conclusion.CANCELLED, result.outputs, reason="cancelled")
            choice, to, by = decided
            if choice == "approve":
                deployments.finish(rt, hold.run_id, hold.job.key, "success")
                return result
        elif env.rollback is not None and env.rollback.mode == "manual":
            reason = (
                f"{verdict.reason}; rollback mode is manual: run `stageline rollback {env.name}`"
            )
            deployments.finish(rt, hold.run_id, hold.job.key, "failure", reason)
            return JobResult(Conclusion.FAILURE, result.outputs, reason=reason)
        return await self._roll_back(hold, env, deployment_id, verdict, result, to, by)

    async def _watch(self, hold: Hold, env: EnvironmentConfig) -> MonitorVerdict | None:
        assert env.monitor is not None
        rt = self.rt

        def on_result(check: CheckResult) -> None:
            if check.tripped:
                rt.emit(
                    "monitor.check_failed",
                    hold.run_id,
                    hold.job.key,
                    environment=env.name,
                    check=check.check,
                    detail=check.detail,
                    failures=check.failures,
                )

        task = asyncio.ensure_future(
            watch(env.monitor, on_result=on_result, cwd=rt.repo_dir, env=dict(os.environ))
        )
        stop = asyncio.ensure_future(hold.cancel.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return None
        return task.result()

    async def _pause(
        self, hold: Hold, env: EnvironmentConfig, deployment_id: int, verdict: MonitorVerdict
    ) -> tuple[str, int | None, str] | None:
        """Wait for a person: (approve | rollback, rollback target, who) or None if cancelled."""
        rt = self.rt
        gate, created = rt.store.deployments.open_gate(
            hold.run_id, env.name, "pause", deployment_id
        )
        text = (
            f"paused: {verdict.reason}; `stageline approve {hold.run_id} --env {env.name}` "
            f"to continue or `stageline rollback {env.name}`"
        )
        rt.store.deployments.update_gate(gate.id, reason=text)
        if created:
            rt.emit(
                "approval.requested",
                hold.run_id,
                hold.job.key,
                environment=env.name,
                gate="pause",
                deployment=deployment_id,
                check=verdict.check,
                reason=verdict.reason,
            )
        hold.wait(text)
        while True:
            found = rt.store.deployments.decisions(gate.id)
            if found:
                decision = found[0]
                choice = "approve" if decision.verdict == "approve" else "rollback"
                to = decision.data.get("to") if isinstance(decision.data, dict) else None
                rt.store.deployments.update_gate(
                    gate.id,
                    status="approved" if choice == "approve" else "rejected",
                    decided_by=[decision.reviewer],
                    decided_at=decision.at,
                    reason=f"{choice} by {decision.reviewer}",
                )
                rt.emit(
                    "approval.granted" if choice == "approve" else "approval.rejected",
                    hold.run_id,
                    hold.job.key,
                    environment=env.name,
                    gate="pause",
                    by=decision.reviewer,
                    decision=choice,
                    comment=decision.comment,
                )
                return choice, int(to) if to else None, decision.reviewer
            if await sleep_or_cancel(rt.poll, hold.cancel):
                return None

    async def _roll_back(
        self,
        hold: Hold,
        env: EnvironmentConfig,
        deployment_id: int,
        verdict: MonitorVerdict,
        result: JobResult,
        to: int | None,
        by: str,
    ) -> JobResult:
        rt = self.rt
        rt.open.pop((hold.run_id, hold.job.key), None)
        replaced = rt.store.deployments.get_deployment(deployment_id)
        rt.emit(
            "deployment.failed",
            hold.run_id,
            hold.job.key,
            environment=env.name,
            deployment=deployment_id,
            sha=replaced.sha if replaced else None,
            reason=verdict.reason,
        )
        outcome = await roll_back(
            rt,
            env,
            replaces=replaced,
            to=to,
            trigger=verdict.reason or "monitor",
            requested_by=by,
            run_id=hold.run_id,
            job_key=hold.job.key,
            wait=hold.wait,
            cancel=hold.cancel,
        )
        if not outcome.ok and replaced is not None:
            current = rt.store.deployments.get_deployment(replaced.id)
            if current is not None and current.status in UNFINISHED:
                rt.store.deployments.finish_deployment(replaced.id, "failure", outcome.reason)
        return JobResult(
            Conclusion.FAILURE, result.outputs, reason=f"{verdict.reason}; {outcome.reason}"
        )


__all__ = ["BakeWindow"]

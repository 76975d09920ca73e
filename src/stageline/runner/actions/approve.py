"""`hmarr/auto-approve-action`: an automated approval gate that records itself and passes.

On GitHub it approves a pull request; here it reports an ``approval.auto`` event that the
engine records as the approval of this stage.
"""

from __future__ import annotations

from stageline.runner.actions.call import ActionCall
from stageline.runner.state import StepOutcome
from stageline.runs.states import Conclusion


async def run(call: ActionCall) -> StepOutcome:
    job = call.state.request.job
    data = {
        "job": job.key,
        "step": call.scope.index,
        "step_name": call.step.display_name,
        "review_message": call.input("review-message"),
        "pull_request_number": call.input("pull-request-number"),
    }
    call.state.sink.event("approval.auto", data)
    call.log(f"Approved automatically by {call.step.uses} (job {job.key}).")
    return StepOutcome(Conclusion.SUCCESS)

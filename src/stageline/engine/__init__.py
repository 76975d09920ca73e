"""The engine: runs a plan's jobs through an executor and records every transition.

Public surface:

* `scheduler.Scheduler` — one run of one `Plan` (see its module docstring for how
  a job moves from queued to completed); `RunSpec` is what it needs besides the
  plan, `Slots` the `--parallel` bound shared by the runs of one process.
* `state.RunState` — what a run knows, as plain data (no asyncio, no store); the
  scheduler applies events to it, records and dispatches. `RunState.from_record`
  rebuilds it for `resume.resume_run`, which then runs the same `Scheduler`.
* `layout.RunLayout` (a run's log, artifact, cache and work paths),
  `concurrency` (groups, through the store), `recording.Recording` (record, then
  tell observers; a record that cannot be written cancels the run).
* `execute.execute` — several runs in one event loop, with SIGINT/SIGTERM
  cancelling them cleanly (exit code 128 + signal).
* `setup.prepare` — from the repository and the command line to `RunSpec`s,
  validating everything before anything runs.
* `events` — what observers (terminal views, notifications) receive, and the
  `Observer` protocol; `lineprinter.LinePrinter` is the off-terminal view.

Hooks for environments and deployments (`hooks`), consulted per job:

* `Gatekeeper.admit(hold) -> Decision` runs before a job that names an
  `environment:` starts (after its `if:` and its concurrency group). It may hold
  as long as it needs; calling `hold.wait("what it waits for")` records the job,
  and the run when nothing else executes, as `waiting` with that text, which
  `stageline runs`/`show` in any process display. `Decision(False, reason)` fails
  the job without running it. Default: no gatekeeper, every environment is open.
* `AfterJob.after_job(hold, result) -> JobResult` runs when a job's executor
  returned success, before that success counts for the jobs that need it. It may
  hold (a deploy's monitoring window; `hold.wait(...)` shows it) and may return a
  failed result (the window failed); dependents see what it returns.

Both run in the job's own task without holding a `--parallel` slot, and must
return promptly once `hold.cancel` is set.
"""

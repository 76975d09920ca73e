"""Delivery after the tests: environments and their rules, gates, monitors, rollback, DORA.

Modules (import them directly; this package imports nothing so it stays cheap):

* `config`, `yamlread` — `.stageline.yml`, validated with positions (schema: docs/config.md)
* `branches`  — deployment branch policy (Ruby fnmatch, as GitHub)
* `gates`     — a gate from a hold to a decision: branch policy, approval rules,
  auto_approve, timers, recorded decisions (pure)
* `reviewers` — who decides or deploys (``--as``, STAGELINE_USER, git's user.email); light
* `gatekeeper` — the engine's before-job hook: opens the gate, polls its decisions, then
  queues the deployment
* `deployments` — a deployment record through its life (queued → ... → rolled_back)
* `checks`, `monitors` — health probes and the watch window after a deploy
* `bake`      — the engine's after-job hook: the watch window, then pass, pause or roll back
* `rollback`  — restore an earlier deployment (re-run its job, or `rollback.run`)
* `runtime`   — what the hooks of one process share: store, rules, notifications
* `wiring`    — `.stageline.yml` → the engine's delivery hooks for one process
* `records`, `dora` — deployment records (`to_record` from a store row) and the four
  DORA keys (pure)
* `lint`      — multi-stage pitfalls in a workflow
"""

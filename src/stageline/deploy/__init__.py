"""Delivery after the tests: environments and their rules, gates, monitors, rollback, DORA.

Modules (import them directly; this package imports nothing so it stays cheap):

* `config`    — `.stageline.yml`, validated with positions (schema: docs/config.md)
* `branches`  — deployment branch policy (Ruby fnmatch, as GitHub)
* `approvals` — approval gate state from rules and recorded decisions (pure)
* `gates`     — the gate as the engine asks: branch policy + approvals + auto_approve; identity
* `checks`, `monitors` — health probes and the watch window after a deploy
* `records`, `dora` — deployment records and the four DORA keys (pure)
* `lint`      — multi-stage pitfalls in a workflow
"""

"""``on:`` in all its forms (GitHub's "Workflow syntax" and "Events that trigger
workflows"): a string, a list of event names, or a mapping of events to their
configuration; ``schedule`` cron lists; workflow_dispatch and workflow_call inputs.

Filter patterns themselves (and ``branches`` with ``branches-ignore``) are checked
by `workflow.filters.check`, which also decides whether an event matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from stageline.errors import Position
from stageline.workflow.fields import Fields, did_you_mean
from stageline.workflow.model import Trigger
from stageline.workflow.yamlsrc import NULL, MappingNode, Node, ScalarNode, SequenceNode

_FILTERS = ("branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore")
_PR_KEYS = ("types", "branches", "branches-ignore", "paths", "paths-ignore")

#: Events without activity types; every other event also accepts `types`.
_NO_TYPES = [
    "create",
    "delete",
    "deployment",
    "deployment_status",
    "fork",
    "gollum",
    "page_build",
    "public",
    "push",
    "schedule",
    "status",
    "workflow_call",
    "workflow_dispatch",
]
EVENTS: tuple[str, ...] = tuple(
    sorted(
        [
            "branch_protection_rule",
            "check_run",
            "check_suite",
            "create",
            "delete",
            "deployment",
            "deployment_status",
            "discussion",
            "discussion_comment",
            "fork",
            "gollum",
            "image_version",
            "issue_comment",
            "issues",
            "label",
            "merge_group",
            "milestone",
            "page_build",
            "project",
            "project_card",
            "project_column",
            "public",
            "pull_request",
            "pull_request_comment",
            "pull_request_review",
            "pull_request_review_comment",
            "pull_request_target",
            "push",
            "registry_package",
            "release",
            "repository_dispatch",
            "schedule",
            "status",
            "watch",
            "workflow_call",
            "workflow_dispatch",
            "workflow_run",
        ]
    )
)
_EVENT_KEYS: dict[str, tuple[str, ...]] = {
    "push": _FILTERS,
    "pull_request": _PR_KEYS,
    "pull_request_target": _PR_KEYS,
    "workflow_run": ("types", "workflows", "branches", "branches-ignore"),
    "merge_group": ("types", "branches", "branches-ignore"),
    "image_version": ("types", "names", "versions"),
    "workflow_dispatch": ("inputs",),
    "workflow_call": ("inputs", "outputs", "secrets"),
}
_PR_TYPES = [
    "assigned",
    "unassigned",
    "labeled",
    "unlabeled",
    "opened",
    "edited",
    "closed",
    "reopened",
    "synchronize",
    "converted_to_draft",
    "ready_for_review",
    "locked",
    "unlocked",
    "review_requested",
    "review_request_removed",
    "auto_merge_enabled",
    "auto_merge_disabled",
    "milestoned",
    "demilestoned",
    "enqueued",
    "dequeued",
    "stacked",
]
#: Activity types we check (GitHub's lists); other events accept any name.
ACTIVITY_TYPES: dict[str, list[str]] = {
    "pull_request": _PR_TYPES,
    "pull_request_target": _PR_TYPES,
    "workflow_run": ["completed", "requested", "in_progress"],
    "release": [
        "published",
        "unpublished",
        "created",
        "edited",
        "deleted",
        "prereleased",
        "released",
    ],
}
SCHEDULE_KEYS = ("cron", "timezone")
DISPATCH_INPUT_KEYS = ("description", "required", "default", "type", "options")
DISPATCH_TYPES = ("string", "boolean", "choice", "number", "environment")
CALL_INPUT_KEYS = ("description", "required", "default", "type")
CALL_TYPES = ("boolean", "number", "string")
CALL_OUTPUT_KEYS = ("description", "value")
CALL_SECRET_KEYS = ("description", "required")
_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_ON = "on"


def event_keys(event: str) -> tuple[str, ...]:
    """The keys that `on.<event>` may have."""
    return _EVENT_KEYS.get(event, () if event in _NO_TYPES else ("types",))


class Triggers:
    """Reads ``on:`` into `Trigger`s, reporting into the same `Fields`."""

    def __init__(self, fields: Fields) -> None:
        self.f = fields

    def read(self, node: Node) -> dict[str, Trigger]:
        f = self.f
        found: dict[str, Trigger] = {}
        if isinstance(node, ScalarNode) and node.tag != NULL:
            name = f.string(node, "on", _ON)
            if name is not None and self._known(node, name):
                found[name] = self._bare(node, name)
            return found
        if isinstance(node, SequenceNode):
            for item in node.value:
                name = f.string(item, "on[]", _ON)
                if name is None or not self._known(item, name):
                    continue
                if name in found:
                    f.error(item, f"event '{name}' is listed twice")
                found[name] = self._bare(item, name)
            if not node.value:
                f.error(node, "`on` must name at least one event")
            return found
        mapping = f.mapping(node, "on")
        if mapping is None:
            return found
        for name, key_node, value in f.items(mapping):
            if self._known(key_node, name):
                found[name] = self._event(name, key_node, value)
        if not mapping.value:
            f.error(node, "`on` must name at least one event")
        return found

    def _known(self, node: Node, name: str) -> bool:
        if name in EVENTS:
            return True
        guess = did_you_mean(name, EVENTS)
        self.f.error(
            node,
            f"unknown event '{name}' in `on`",
            f"did you mean '{guess}'?" if guess else "see GitHub's 'Events that trigger workflows'",
        )
        return False

    def _bare(self, node: Node, name: str) -> Trigger:
        if name == "schedule":
            self.f.error(node, "`schedule` needs a list of cron entries: `schedule: [{cron: ...}]`")
        return Trigger(self.f.pos(node), event=name)

    def _event(self, name: str, key_node: Node, node: Node) -> Trigger:
        f = self.f
        trigger = Trigger(f.pos(key_node), event=name)
        if name == "schedule":
            trigger.config = {"cron": self._schedule(node, trigger.positions)}
            return trigger
        if isinstance(node, ScalarNode) and node.tag == NULL:
            return trigger
        mapping = f.mapping(node, f"on.{name}")
        if mapping is None:
            return trigger
        allowed = event_keys(name)
        config: dict[str, Any] = {}
        positions = trigger.positions
        for key, _, value in f.entries(mapping, allowed, f"on.{name}"):
            positions[key] = f.pos(value)
            if key in _FILTERS or key in ("types", "workflows", "names", "versions"):
                what = f"on.{name}.{key}"
                items = f.strings(value, what, positions, key, _ON, non_empty=key == "types")
                config[key] = items
                if key == "types" and items is not None:
                    self._types(name, items, positions)
                if key in _FILTERS or key == "types":
                    setattr(trigger, key.replace("-", "_"), items)
            elif name == "workflow_dispatch":
                config[key] = self._dispatch_inputs(value)
            elif key == "inputs":
                config[key] = self._call_inputs(value)
            elif key == "outputs":
                config[key] = self._call_outputs(value)
            else:
                config[key] = self._call_secrets(value)
        if name == "workflow_run" and "workflows" not in config:
            f.error(
                key_node, "`workflow_run` needs `workflows`: the workflows whose runs trigger it"
            )
        trigger.config = config
        return trigger

    def _types(self, event: str, types: list[str], positions: dict[str, Position]) -> None:
        known = ACTIVITY_TYPES.get(event)
        if known is None:
            return
        for index, name in enumerate(types):
            if name not in known:
                guess = did_you_mean(name, known)
                self.f.error(
                    positions.get(f"types[{index}]", positions["types"]),
                    f"unknown activity type '{name}' for {event}",
                    f"did you mean '{guess}'?" if guess else f"valid types: {', '.join(known)}",
                )

    def _schedule(self, node: Node, positions: dict[str, Position]) -> list[str]:
        f = self.f
        crons: list[str] = []
        entries = f.sequence(node, "on.schedule")
        if entries is None:
            return crons
        if not entries.value:
            f.error(node, "`on.schedule` must list at least one cron entry")
        for index, entry in enumerate(entries.value):
            mapping = f.mapping(entry, f"on.schedule[{index}]")
            if mapping is None:
                continue
            found = False
            for key, _, value in f.entries(mapping, SCHEDULE_KEYS, "a schedule entry"):
                if key == "timezone":
                    self._timezone(value)
                    continue
                found = True
                text = f.string(value, "cron", _ON)
                if text is None:
                    continue
                fault = cron_fault(text)
                if fault:
                    f.error(value, f"invalid cron expression '{text}': {fault}", _CRON_HINT)
                positions[f"cron[{len(crons)}]"] = f.pos(value)
                crons.append(text)
            if not found:
                f.error(entry, "a schedule entry needs `cron`")
        return crons

    def _timezone(self, node: Node) -> None:
        f = self.f
        text = f.string(node, "timezone")
        if text is None:
            return
        if not text.strip():
            f.error(node, "`timezone` cannot be empty")
        elif not _known_zone(text):
            f.error(node, f"unknown time zone '{text}'", "use an IANA name such as Europe/London")

    def _declared(self, node: Node, where: str, kind: str) -> Iterator[tuple[str, Node]]:
        """Each `<id>: value` of an inputs/outputs/secrets block (null: none), its id checked."""
        if isinstance(node, ScalarNode) and node.tag == NULL:
            return
        mapping = self.f.mapping(node, where)
        for name, key_node, value in self.f.items(mapping) if mapping else ():
            if not _ID.match(name):
                self.f.error(
                    key_node,
                    f"invalid {kind} id '{name}'",
                    "ids start with a letter or '_' and contain only letters, digits, '-' and '_'",
                )
            yield name, value

    def _specs(self, node: Node, where: str, kind: str) -> Iterator[tuple[str, MappingNode]]:
        """Each declared input or output whose definition is a mapping."""
        for name, value in self._declared(node, where, kind):
            spec = self.f.mapping(value, f"{kind}s.{name}")
            if spec is not None:
                yield name, spec

    def _dispatch_inputs(self, node: Node) -> dict[str, Any]:
        f = self.f
        found: dict[str, Any] = {}
        for name, spec in self._specs(node, "on.workflow_dispatch.inputs", "input"):
            config: dict[str, Any] = {}
            nodes: dict[str, Node] = {}
            for key, _, item in f.entries(spec, DISPATCH_INPUT_KEYS, f"input '{name}'"):
                nodes[key] = item
                config[key] = f.plain(item, None)
                if key == "type" and config[key] not in DISPATCH_TYPES:
                    f.error(
                        item,
                        f"unknown input type {config[key]!r}",
                        f"valid types: {', '.join(DISPATCH_TYPES)}",
                    )
                elif key == "required" and not isinstance(config[key], bool):
                    f.wrong(item, f"inputs.{name}.required", "true or false")
                elif key == "options" and not (isinstance(config[key], list) and config[key]):
                    f.wrong(item, f"inputs.{name}.options", "a non-empty list")
            self._choice(spec, name, config, nodes)
            found[name] = config
        return found

    def _choice(
        self, spec: MappingNode, name: str, config: dict[str, Any], nodes: dict[str, Node]
    ) -> None:
        """GitHub's rules tying an input's `type`, `options` and `default` together,
        each reported at the value that breaks it."""
        kind = config.get("type", "string")
        options = config.get("options")
        if kind == "choice" and options is None:
            self.f.error(nodes["type"], f"choice input '{name}' needs `options`")
        elif kind != "choice" and options is not None:
            self.f.error(
                nodes["options"], f"`options` is only valid for inputs of type choice ('{name}')"
            )
        elif kind == "choice" and "default" in config and isinstance(options, list):
            default = config["default"]
            if str(default) not in [str(option) for option in options]:
                self.f.error(
                    nodes["default"],
                    f"default {default!r} of input '{name}' is not one of its options",
                    f"options: {', '.join(str(option) for option in options)}",
                )
        if kind == "boolean" and not isinstance(config.get("default", False), bool):
            self.f.error(
                nodes["default"], f"default of boolean input '{name}' must be true or false"
            )

    def _call_inputs(self, node: Node) -> dict[str, Any]:
        f = self.f
        found: dict[str, Any] = {}
        for name, spec in self._specs(node, "on.workflow_call.inputs", "input"):
            config: dict[str, Any] = {}
            for key, _, item in f.entries(spec, CALL_INPUT_KEYS, f"input '{name}'"):
                expr = "on.workflow_call.inputs.<input_id>.default" if key == "default" else None
                config[key] = f.plain(item, expr)
                if key == "type" and config[key] not in CALL_TYPES:
                    f.error(
                        item,
                        f"unknown input type {config[key]!r}",
                        f"valid types: {', '.join(CALL_TYPES)}",
                    )
            if "type" not in config:
                f.error(spec, f"input '{name}' of workflow_call needs a `type`")
            found[name] = config
        return found

    def _call_outputs(self, node: Node) -> dict[str, Any]:
        f = self.f
        found: dict[str, Any] = {}
        for name, spec in self._specs(node, "on.workflow_call.outputs", "output"):
            config: dict[str, Any] = {}
            for key, _, item in f.entries(spec, CALL_OUTPUT_KEYS, f"output '{name}'"):
                expr = "on.workflow_call.outputs.<output_id>.value" if key == "value" else None
                config[key] = f.string(item, f"outputs.{name}.{key}", expr)
            if "value" not in config:
                f.error(spec, f"output '{name}' of workflow_call needs a `value`")
            found[name] = config
        return found

    def _call_secrets(self, node: Node) -> dict[str, Any]:
        f = self.f
        found: dict[str, Any] = {}
        for name, value in self._declared(node, "on.workflow_call.secrets", "secret"):
            config: dict[str, Any] = {}
            if not (isinstance(value, ScalarNode) and value.tag == NULL):
                spec = f.mapping(value, f"secrets.{name}")
                for key, _, item in f.entries(spec, CALL_SECRET_KEYS, "a secret") if (spec) else ():
                    config[key] = f.plain(item, None)
            found[name] = config
        return found


def _known_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone; True when this host has no time zone
    database to tell (never a false error)."""
    from zoneinfo import ZoneInfo  # only workflows that name a time zone pay for it

    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        try:
            ZoneInfo("UTC")
        except (KeyError, OSError):
            return True
        return False
    return True


# --- cron -----------------------------------------------------------------------------

_CRON_HINT = "five fields: minute hour day-of-month month day-of-week, e.g. '30 5 * * 1-5'"
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_CRON_FIELDS: tuple[tuple[str, int, int, list[str]], ...] = (
    ("minute", 0, 59, []),
    ("hour", 0, 23, []),
    ("day of month", 1, 31, []),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)


def cron_fault(text: str) -> str | None:
    """What is wrong with a POSIX cron expression as GitHub's `schedule` takes it."""
    parts = text.split()
    if len(parts) != 5:
        return f"expected 5 fields, found {len(parts)}"
    for part, (name, low, high, names) in zip(parts, _CRON_FIELDS, strict=True):
        for item in part.split(","):
            fault = _cron_item(item, low, high, names)
            if fault:
                return f"{name} field '{part}': {fault}"
    return None


def _cron_item(item: str, low: int, high: int, names: list[str]) -> str | None:
    body, _, step = item.partition("/")
    if step and not (step.isdigit() and int(step) > 0):
        return f"step '{step}' must be a positive number"
    if body == "*":
        return None
    start, dash, end = body.partition("-")
    values = []
    for text in (start, end) if dash else (start,):
        if text.isdigit():
            value = int(text)
        elif text.lower() in names:
            value = names.index(text.lower()) + low
        else:
            return f"'{text}' is not a number" if text else "empty value"
        if not low <= value <= high:
            return f"{value} is out of range {low}-{high}"
        values.append(value)
    if len(values) == 2 and values[0] > values[1]:
        return f"range {body} runs backwards"
    return None

"""Trigger filters: does a workflow run for an event?

GitHub's rules ("Workflow syntax": ``on.<event>.<branches|tags|paths>`` and the
"Filter pattern cheat sheet"):

* Only events listed under ``on:`` trigger the workflow (``on: push`` and
  ``on: [push, fork]`` are the same as mappings without filters).
* ``branches``/``tags`` list patterns matched against the ref's short name; the
  last pattern that matches decides (``!`` negates), so order matters.
  ``*-ignore`` lists exclude what they match. For ``push``, defining only branch
  filters means tag pushes do not run, and the other way round.
* ``paths`` runs when at least one changed path is included; ``paths-ignore``
  skips the run when every changed path is ignored. Paths are not evaluated for tag
  pushes, nor when the changed paths are unknown (``Event.changed_paths is None``,
  as GitHub runs when it cannot compute the diff).
* Branch and path filters must both be satisfied.

Patterns compile once to anchored regexes (`compile_pattern`, cached). `*` does not
cross ``/``, `**` does, ``**/`` may match nothing, `?`/`+` repeat the preceding
character or ``[...]`` set, ``\\`` escapes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from stageline.errors import Diagnostic, WorkflowError
from stageline.workflow.model import Trigger, Workflow

if TYPE_CHECKING:  # the event is duck-typed at run time: workflow sits below plan
    from stageline.plan.model import Event

#: Events whose `branches` filters apply to the base branch of a pull request.
_PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
#: The activity types GitHub uses for pull_request events when `types` is omitted.
_DEFAULT_PR_TYPES = ("opened", "synchronize", "reopened")
#: Filter lists and the key each conflicts with.
_PAIRS = (("branches", "branches-ignore"), ("tags", "tags-ignore"), ("paths", "paths-ignore"))
_RANGES = (("a", "z"), ("A", "Z"), ("0", "9"))


class PatternFault(ValueError):
    """A filter pattern is malformed; `offset` is the 0-based index in the pattern."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled filter pattern."""

    text: str
    negated: bool
    regex: re.Pattern[str]

    def matches(self, name: str) -> bool:
        return self.regex.fullmatch(name) is not None


@lru_cache(maxsize=4096)
def compile_pattern(text: str) -> Pattern:
    """Compile one filter pattern (raises `PatternFault`)."""
    negated = text.startswith("!")
    body = text[1:] if negated else text
    if not body:
        raise PatternFault("empty pattern", len(text))
    base = 1 if negated else 0
    out: list[str] = []
    repeatable = False
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == "*":
            if body.startswith("**", i):
                segment_start = i == 0 or body[i - 1] == "/"
                if segment_start and body.startswith("/", i + 2):
                    out.append("(?:.*/)?")
                    i += 3
                else:
                    out.append(".*")
                    i += 2
            else:
                out.append("[^/]*")
                i += 1
            repeatable = False
            continue
        if c in "?+":
            if not repeatable:
                raise PatternFault(
                    f"'{c}' must follow a character or a [...] set to repeat", base + i
                )
            out.append(c)
            repeatable = False
            i += 1
            continue
        if c == "[":
            cls, i = _bracket(body, i, base)
            out.append(cls)
        elif c == "\\":
            if i + 1 >= n:
                raise PatternFault("'\\' at the end of the pattern escapes nothing", base + i)
            out.append(re.escape(body[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
        repeatable = True
    return Pattern(text, negated, re.compile("".join(out), re.DOTALL))


def _bracket(body: str, start: int, base: int) -> tuple[str, int]:
    """The regex class for the ``[...]`` set at `start`, and the index after it."""
    end = body.find("]", start + 1)
    if end < 0:
        raise PatternFault("'[' is never closed with ']'", base + start)
    inner = body[start + 1 : end]
    if not inner:
        raise PatternFault("'[]' must list at least one character", base + start)
    parts: list[str] = []
    i = 0
    while i < len(inner):
        if i + 2 < len(inner) and inner[i + 1] == "-":
            lo, hi = inner[i], inner[i + 2]
            if not any(a <= lo <= hi <= b for a, b in _RANGES):
                raise PatternFault(
                    f"range '{lo}-{hi}' is invalid: ranges can only be within a-z, A-Z or 0-9",
                    base + start + 1 + i,
                )
            parts.append(f"{lo}-{hi}")
            i += 3
        else:
            parts.append(re.escape(inner[i]))
            i += 1
    return "[" + "".join(parts) + "]", end + 1


def included(name: str, patterns: Sequence[str]) -> bool:
    """Whether `name` is selected by an ordered pattern list: the last pattern that
    matches decides (a negated one deselects)."""
    result = False
    for text in patterns:
        pattern = compile_pattern(text)
        if pattern.negated == result and pattern.matches(name):
            result = not pattern.negated
    return result


def check(workflow: Workflow) -> list[Diagnostic]:
    """Every fault of the workflow's trigger filters, positioned: malformed patterns,
    a filter used with its ``-ignore`` twin, and ``!`` patterns with no positive one."""
    found: list[Diagnostic] = []
    for trigger in workflow.on.values():
        found.extend(_check_trigger(trigger))
    return found


def _check_trigger(trigger: Trigger) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for key, ignore in _PAIRS:
        if _filter(trigger, key) is not None and _filter(trigger, ignore) is not None:
            found.append(
                Diagnostic(
                    trigger.at(ignore),
                    f"you cannot use both '{key}' and '{ignore}' for the same event "
                    f"({trigger.event})",
                    hint=f"keep '{key}' and prefix the patterns to exclude with '!'",
                )
            )
    for key, ignore in _PAIRS:
        for name in (key, ignore):
            patterns = _filter(trigger, name)
            if patterns is None:
                continue
            for text in patterns:
                try:
                    compile_pattern(text)
                except PatternFault as fault:
                    found.append(
                        Diagnostic(
                            trigger.at(name),
                            f"invalid pattern {text!r} in {trigger.event}.{name}: "
                            f"{fault.message} (at character {fault.offset + 1})",
                            hint="escape special characters with '\\' to match them literally",
                        )
                    )
            if name == key and patterns and all(p.startswith("!") for p in patterns):
                found.append(
                    Diagnostic(
                        trigger.at(name),
                        f"{trigger.event}.{name} has only negated ('!') patterns, "
                        "so it matches nothing",
                        hint=f"add a positive pattern such as '**', or use '{ignore}'",
                    )
                )
    return found


def matches(workflow: Workflow, event: Event) -> tuple[bool, str]:
    """Whether `workflow` runs for `event`, and why (or why not), in one sentence.

    Raises `WorkflowError` when the event's filters are malformed.
    """
    trigger = workflow.on.get(event.name)
    if trigger is None:
        listed = ", ".join(workflow.on) or "nothing"
        return False, f"event '{event.name}' is not one of the workflow's triggers ({listed})"
    errors = [d for d in _check_trigger(trigger) if d.severity == "error"]
    if errors:
        raise WorkflowError(errors)

    types = _types(trigger, event)
    if types is not None:
        return False, types
    kind, name = _ref(event)
    refs = _ref_filters(trigger, event.name, kind, name)
    if refs is not None:
        return False, refs
    if kind != "tag" and event.changed_paths is not None:
        paths = _path_filters(trigger, event.changed_paths)
        if paths is not None:
            return False, paths
    return True, f"event '{event.name}' matches the workflow's filters"


def _types(trigger: Trigger, event: Event) -> str | None:
    action = event.payload.get("action")
    if not isinstance(action, str):
        return None
    allowed: Sequence[str] | None = trigger.types
    if allowed is None and event.name in _PULL_REQUEST_EVENTS:
        allowed = _DEFAULT_PR_TYPES
    if allowed is None or action in allowed:
        return None
    return f"activity type '{action}' is not in {event.name}.types {_list(allowed)}"


def _ref(event: Event) -> tuple[str, str]:
    """("branch" | "tag" | "other", short name) of the ref the filters look at."""
    if event.name in _PULL_REQUEST_EVENTS:
        pr = event.payload.get("pull_request")
        base = pr.get("base") if isinstance(pr, dict) else None
        if isinstance(base, dict) and isinstance(base.get("ref"), str):
            return "branch", base["ref"]
    if event.name == "workflow_run":
        run = event.payload.get("workflow_run")
        if isinstance(run, dict) and isinstance(run.get("head_branch"), str):
            return "branch", run["head_branch"]
    ref = event.ref
    if ref.startswith("refs/heads/"):
        return "branch", ref.removeprefix("refs/heads/")
    if ref.startswith("refs/tags/"):
        return "tag", ref.removeprefix("refs/tags/")
    if ref.startswith("refs/"):
        return "other", ref
    return "branch", ref


def _ref_filters(trigger: Trigger, event: str, kind: str, name: str) -> str | None:
    branches = _filter(trigger, "branches"), _filter(trigger, "branches-ignore")
    tags: tuple[list[str] | None, list[str] | None] = (None, None)
    if event == "push":
        tags = _filter(trigger, "tags"), _filter(trigger, "tags-ignore")
    has_branches = branches != (None, None)
    has_tags = tags != (None, None)
    if not has_branches and not has_tags:
        return None
    if kind == "branch" and has_branches:
        return _against(event, "branch", name, "branches", *branches)
    if kind == "tag" and has_tags:
        return _against(event, "tag", name, "tags", *tags)
    if kind == "tag" and event == "push":
        return f"tag '{name}' is not selected: {event} filters only branches"
    if kind == "branch" and event == "push":
        return f"branch '{name}' is not selected: {event} filters only tags"
    return f"ref '{name}' is neither a branch nor a tag, and {event} filters refs"


def _against(
    event: str,
    kind: str,
    name: str,
    key: str,
    wanted: list[str] | None,
    ignored: list[str] | None,
) -> str | None:
    if wanted is not None and not included(name, wanted):
        return f"{kind} '{name}' does not match {event}.{key} {_list(wanted)}"
    if ignored is not None and included(name, ignored):
        return f"{kind} '{name}' matches {event}.{key}-ignore {_list(ignored)}"
    return None


def _path_filters(trigger: Trigger, changed: Sequence[str]) -> str | None:
    wanted = _filter(trigger, "paths")
    ignored = _filter(trigger, "paths-ignore")
    event = trigger.event
    if wanted is not None and not any(included(p, wanted) for p in changed):
        return f"no changed path matches {event}.paths {_list(wanted)}"
    if ignored is not None and all(included(p, ignored) for p in changed):
        return f"every changed path matches {event}.paths-ignore {_list(ignored)}"
    return None


def _filter(trigger: Trigger, key: str) -> list[str] | None:
    value = getattr(trigger, key.replace("-", "_"))
    return None if value is None else [str(v) for v in value]


def _list(patterns: Sequence[str]) -> str:
    return "[" + ", ".join(patterns) + "]"

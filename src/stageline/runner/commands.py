"""Workflow commands (``::name key=value,...::data``) in a step's output.

The rules follow GitHub's runner: a command is a line that starts (after leading
whitespace) with ``::``, has a second ``::`` ending the command and its properties, and
names a known command; anything else is plain output. Data is unescaped (``%25`` ``%0D``
``%0A``), property values also (``%3A`` ``%2C``). ``::stop-commands::TOKEN`` turns
processing off until a line ``::TOKEN::``. ``set-env`` and ``add-path`` are disabled unless
ACTIONS_ALLOW_UNSECURE_COMMANDS is ``true``; ``set-output`` and ``save-state`` still work
with a deprecation warning.

`CommandProcessor.feed` returns the line to log (in GitHub's raw log format, e.g.
``##[error]message``), or None when the command leaves no line; its effects land in a
`CommandEffects` the caller owns, so a step collects them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stageline.runner.contract import Annotation
from stageline.runner.masking import Masker

SET_OUTPUT_DEPRECATED = (
    "The `set-output` command is deprecated and will be disabled soon. Please upgrade to "
    "using Environment Files. For more information see: "
    "https://github.blog/changelog/2022-10-11-github-actions-deprecating-save-state-and-set-output-commands/"
)
SAVE_STATE_DEPRECATED = SET_OUTPUT_DEPRECATED.replace("set-output", "save-state")
UNSECURE_DISABLED = (
    "The `{name}` command is disabled. Please upgrade to using Environment Files or opt into "
    "unsecure command execution by setting the `ACTIONS_ALLOW_UNSECURE_COMMANDS` environment "
    "variable to `true`. For more information see: "
    "https://github.blog/changelog/2020-10-01-github-actions-deprecating-set-env-and-add-path-commands/"
)

KNOWN = frozenset(
    {
        "add-mask",
        "error",
        "warning",
        "notice",
        "debug",
        "group",
        "endgroup",
        "echo",
        "stop-commands",
        "set-output",
        "set-env",
        "add-path",
        "save-state",
        "add-matcher",
        "remove-matcher",
    }
)
ANNOTATION_LEVELS = frozenset({"error", "warning", "notice"})


@dataclass(frozen=True, slots=True)
class WorkflowCommand:
    name: str
    properties: dict[str, str]
    data: str


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    text = text.replace("%0D", "\r").replace("%0A", "\n")
    return text.replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


def parse_command(line: str) -> WorkflowCommand | None:
    """The command on `line`, or None when the line is not shaped like one."""
    text = line.lstrip()
    if not text.startswith("::"):
        return None
    end = text.find("::", 2)
    if end < 0:
        return None
    head = text[2:end]
    name, _, props_text = head.partition(" ")
    if not name:
        return None
    properties: dict[str, str] = {}
    for item in props_text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            properties[key.strip()] = unescape_property(value)
    return WorkflowCommand(name, properties, unescape_data(text[end + 2 :]))


@dataclass(slots=True)
class CommandEffects:
    """What the commands of one step asked for, applied by the step runner afterwards."""

    annotations: list[Annotation] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)
    #: Command faults that fail the step (GitHub marks the step failed for them).
    errors: list[str] = field(default_factory=list)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class CommandProcessor:
    """Per-job interpreter of workflow commands; holds the stop-commands state."""

    def __init__(self, masker: Masker, *, allow_unsecure: bool = False, debug: bool = False):
        self.masker = masker
        self.allow_unsecure = allow_unsecure
        self.debug = debug
        self._stop_token: str | None = None

    def feed(self, line: str, effects: CommandEffects, step_index: int | None) -> str | None:
        """Interpret one output line (unmasked); return the line to log, unmasked."""
        if self._stop_token is not None:
            if line.strip() == f"::{self._stop_token}::":
                self._stop_token = None
                return None
            return line
        command = parse_command(line)
        if command is None or command.name not in KNOWN:
            return line
        return self._apply(command, effects, step_index)

    def _apply(
        self, cmd: WorkflowCommand, effects: CommandEffects, step_index: int | None
    ) -> str | None:
        name, data, props = cmd.name, cmd.data, cmd.properties
        if name == "add-mask":
            self.masker.add(data.strip())
            return None
        if name in ANNOTATION_LEVELS:
            effects.annotations.append(
                Annotation(
                    level=name,
                    message=self.masker.mask(data),
                    title=self.masker.mask(props["title"]) if "title" in props else None,
                    file=props.get("file"),
                    line=_int(props.get("line")),
                    col=_int(props.get("col")),
                    step_index=step_index,
                )
            )
            return f"##[{name}]{data}"
        if name == "debug":
            return f"##[debug]{data}" if self.debug else None
        if name == "group":
            return f"##[group]{data}"
        if name == "endgroup":
            return "##[endgroup]"
        if name == "stop-commands":
            if not data.strip():
                effects.errors.append("Invalid stop-commands token: the token must not be empty")
                return line_of(cmd)
            self._stop_token = data.strip()
            return None
        if name in ("set-output", "save-state"):
            key = props.get("name", "")
            if not key:
                effects.errors.append(f"Invalid `{name}` command: 'name' is required")
                return None
            target = effects.outputs if name == "set-output" else effects.state
            target[key] = data
            message = SET_OUTPUT_DEPRECATED if name == "set-output" else SAVE_STATE_DEPRECATED
            effects.annotations.append(Annotation("warning", message, step_index=step_index))
            return f"##[warning]{message}"
        if name in ("set-env", "add-path"):
            if not self.allow_unsecure:
                message = UNSECURE_DISABLED.format(name=name)
                effects.errors.append(message)
                return f"##[error]{message}"
            if name == "add-path":
                effects.path.append(data)
            elif props.get("name"):
                effects.env[props["name"]] = data
            else:
                effects.errors.append("Invalid `set-env` command: 'name' is required")
            return None
        # echo, add-matcher, remove-matcher: accepted, nothing to do locally.
        return None


def line_of(cmd: WorkflowCommand) -> str:
    """A command rendered back as a line, for logging ones that were refused."""
    props = ",".join(f"{k}={v}" for k, v in cmd.properties.items())
    return f"::{cmd.name}{' ' + props if props else ''}::{cmd.data}"

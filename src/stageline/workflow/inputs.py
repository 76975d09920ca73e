"""Inputs typed by their declaration, as GitHub types `workflow_dispatch` and
`workflow_call` inputs: the run's own (`engine.setup.typed_inputs`), a called
workflow's `with:` at run time (`engine.calls`) and its literal values when the call
is checked (`workflow.calls`) follow the same rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stageline.errors import RunError


def typed_values(
    declared: Mapping[str, Any], given: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """`given` over the declared defaults, each typed by its declared `type` (a
    boolean's `"true"` is `true`, a number's text a number, a choice one of its
    options). `where` names the workflow in messages. Raises `RunError` for a value
    its type refuses."""
    inputs: dict[str, Any] = {}
    for name, config in declared.items():
        if isinstance(config, Mapping) and config.get("default") is not None:
            inputs[str(name)] = config["default"]
    inputs.update(given)
    for name, value in inputs.items():
        config = declared.get(name)
        if isinstance(config, Mapping):
            inputs[name] = _typed(f"{where}: input {name!r}", value, config)
    return inputs


def input_text(value: Any) -> str:
    """An input as `github.event.inputs` gives it (booleans as `true`/`false`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _typed(where: str, value: Any, config: Mapping[str, Any]) -> Any:
    kind = str(config.get("type") or "string")
    text = input_text(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise RunError(f"{where} is a boolean, got {text!r}", hint="give true or false")
    if kind == "number":
        if isinstance(value, float) and value.is_integer():
            return int(value)  # an expression's numbers are floats; `1` stays `1`
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            number = float(text)
        except ValueError:
            raise RunError(f"{where} is a number, got {text!r}") from None
        return int(number) if number.is_integer() and "." not in text else number
    if kind == "choice":
        options = [input_text(o) for o in config.get("options") or []]
        if text not in options:
            raise RunError(
                f"{where} must be one of its options, got {text!r}",
                hint="options: " + ", ".join(options),
            )
    return text if kind in ("string", "choice", "environment") else value

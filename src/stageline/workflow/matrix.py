"""Matrix expansion, exactly as GitHub documents it ("Using a matrix for your jobs").

1. The vectors (every key but ``include``/``exclude``) form a cartesian product; the
   first key varies slowest, so jobs come in the order GitHub creates them.
2. ``exclude`` removes every combination an entry matches *partially* (only the
   entry's keys are compared; a mapping value matches a mapping that has at least
   its keys with matching values).
3. Each ``include`` entry is added to every original (post-exclude) combination
   where none of its key/value pairs overwrites an *original* matrix value; values
   added by earlier includes may be overwritten. An entry that fits no original
   combination becomes a new combination of its own. Combinations created by
   ``include`` are never extended by later entries.
4. More than 256 resulting combinations is an error.

`expand` works on evaluated values; `expand_strategy` evaluates ``${{ }}`` first, in
keys too (``${{ needs.setup.outputs.axis }}: [a, b]``), and merges ``${{ insert }}``
(`stageline.expressions.mappings`); a matrix that reads ``needs`` is expanded when they
are done.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from stageline.errors import Diagnostic, Position, WorkflowError
from stageline.workflow.model import Strategy

#: GitHub's limit on the jobs one matrix may generate per workflow run.
MAX_COMBINATIONS = 256

_RESERVED = ("include", "exclude")


def expand(
    matrix: Mapping[str, Any],
    pos: Position,
    *,
    positions: Mapping[str, Position] | None = None,
) -> list[dict[str, Any]]:
    """The combinations of an evaluated matrix, in GitHub's order.

    `pos` is the position of the ``matrix:`` value; `positions` (optional) maps a
    matrix key to the position of its value for sharper diagnostics. Every fault of
    the matrix is collected and raised together as one `WorkflowError`.
    """
    at = positions or {}
    errors: list[Diagnostic] = []

    def fail(key: str | None, message: str, hint: str | None = None) -> None:
        errors.append(Diagnostic(at.get(key, pos) if key else pos, message, hint=hint))

    if not isinstance(matrix, Mapping):
        fail(None, f"matrix must be a mapping of vectors, got {_kind(matrix)}")
        raise WorkflowError(errors)

    vectors: dict[str, list[Any]] = {}
    for key, values in matrix.items():
        if key in _RESERVED:
            continue
        if not isinstance(values, list):
            fail(
                key,
                f"matrix vector '{key}' must be a list, got {_kind(values)}",
                hint=f"write `{key}: [{_short(values)}]`",
            )
        elif not values:
            fail(key, f"matrix vector '{key}' does not contain any values")
        else:
            vectors[key] = values

    include = _entries(matrix, "include", fail)
    exclude = _entries(matrix, "exclude", fail)
    declared = [k for k in matrix if k not in _RESERVED]
    for entry in exclude:
        for key in entry:
            if key not in declared:
                fail(
                    "exclude",
                    f"matrix exclude key '{key}' does not match any key within the matrix",
                    hint=f"matrix keys: {', '.join(declared) or '(none)'}",
                )
    if not declared and not include and not errors:
        fail(None, "matrix must define at least one vector or an include list")
    if errors:
        raise WorkflowError(errors)

    originals = [
        dict(zip(vectors, values, strict=True))
        for values in itertools.product(*vectors.values())
        if vectors
    ]
    originals = [c for c in originals if not any(_partial(e, c) for e in exclude)]
    added: list[dict[str, Any]] = [{} for _ in originals]
    extra: list[dict[str, Any]] = []
    for entry in include:
        fitted = False
        for combo, more in zip(originals, added, strict=True):
            if all(k not in combo or _same(combo[k], v) for k, v in entry.items()):
                more.update((k, v) for k, v in entry.items() if k not in combo)
                fitted = True
        if not fitted:
            extra.append(dict(entry))

    result = [{**combo, **more} for combo, more in zip(originals, added, strict=True)]
    result.extend(extra)
    if not result:
        fail(None, "matrix generates no jobs: every combination is excluded")
        raise WorkflowError(errors)
    if len(result) > MAX_COMBINATIONS:
        fail(
            None,
            f"matrix generates {len(result)} jobs; a matrix may generate at most "
            f"{MAX_COMBINATIONS} jobs per workflow run",
            hint="split the job, or exclude combinations you do not need",
        )
        raise WorkflowError(errors)
    return result


def expand_strategy(
    matrix: Mapping[str, Any] | str,
    contexts: Mapping[str, Any],
    pos: Position,
    *,
    positions: Mapping[str, Position] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every ``${{ }}`` in a matrix as written (a whole-matrix expression such
    as ``${{ fromJSON(needs.setup.outputs.matrix) }}`` included), then `expand` it."""
    from stageline.errors import ExpressionError

    try:
        evaluated = _evaluate(matrix, contexts)
    except ExpressionError as err:
        raise WorkflowError(
            [Diagnostic(err.position or pos, f"in matrix: {err.message}", hint=err.hint)]
        ) from err
    return expand(evaluated, pos, positions=positions)


def key_positions(strategy: Strategy) -> dict[str, Position]:
    """Where each matrix key's value is written (the loader records them in the
    strategy's `positions` as ``matrix.<key>``), for `expand`'s `positions`."""
    return {
        key.removeprefix("matrix."): pos
        for key, pos in strategy.positions.items()
        if key.startswith("matrix.")
    }


def has_templates(value: Any) -> bool:
    """Whether a matrix as written contains any ``${{ }}`` expression."""
    return any("${{" in text for text in _strings(value))


def references(value: Any, context: str) -> bool:
    """Whether some expression in the matrix names the context `context` (e.g. ``needs``).

    A conservative textual check (case-insensitive, at a word boundary): deferring a
    matrix that turns out not to need the context is harmless, the opposite is not.
    """
    import re

    pattern = re.compile(rf"(?<![\w.-]){re.escape(context)}\b", re.IGNORECASE)
    return any(
        "${{" in text and pattern.search(text.split("${{", 1)[1]) for text in _strings(value)
    )


def leg_name(job_name: str, combination: Mapping[str, Any]) -> str:
    """GitHub's default name of a matrix leg: ``test (3.11, ubuntu)`` (every value of the
    combination in order, include-added ones too; mappings and lists contribute their
    leaf values; null and empty values are left out)."""
    shown = leg_values(combination)
    return f"{job_name} ({shown})" if shown else job_name


def leg_values(combination: Mapping[str, Any]) -> str:
    """The part of a leg's name inside the parentheses: ``3.11, ubuntu``."""
    return ", ".join(text for text in _leaves(combination) if text)


def display(value: Any) -> str:
    """A matrix value as GitHub's expressions turn it into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _leaves(value: Any) -> Iterator[str]:
    items: Sequence[Any]
    if isinstance(value, Mapping):
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        yield display(value)
        return
    for item in items:
        yield from _leaves(item)


def _evaluate(value: Any, contexts: Mapping[str, Any], done: dict[int, Any] | None = None) -> Any:
    """`value` with its expressions evaluated; a list or mapping shared by aliases is
    evaluated once (`done`: id → result) and stays shared."""
    if done is None:
        done = {}
    if isinstance(value, Mapping | list) and id(value) in done:
        return done[id(value)]
    result = _evaluate_one(value, contexts, done)
    if isinstance(value, Mapping | list):
        done[id(value)] = result
    return result


def _evaluate_one(value: Any, contexts: Mapping[str, Any], done: dict[int, Any]) -> Any:
    if isinstance(value, str):
        if "${{" not in value:
            return value
        from stageline.expressions import evaluate_template

        return evaluate_template(value, contexts)
    if isinstance(value, Mapping):
        from stageline.expressions import evaluate_template
        from stageline.expressions.mappings import evaluate_keys

        return evaluate_keys(
            value,
            lambda text: evaluate_template(text, contexts),
            lambda item: _evaluate(item, contexts, done),
        )
    if isinstance(value, list):
        return [_evaluate(v, contexts, done) for v in value]
    return value


def _strings(value: Any) -> Iterator[str]:
    """Every key and string in `value`, each shared list or mapping visited once: YAML
    aliases share subtrees, and walking them expanded is exponential in their nesting."""
    seen: set[int] = set()
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping | list):
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, Mapping):
                for k, v in item.items():
                    yield str(k)
                    todo.append(v)
            else:
                todo.extend(reversed(item))


def _entries(matrix: Mapping[str, Any], key: str, fail: Any) -> list[dict[str, Any]]:
    raw = matrix.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        fail(key, f"matrix {key} must be a list of mappings, got {_kind(raw)}")
        return []
    entries: list[dict[str, Any]] = []
    for index, entry in enumerate(raw):
        if isinstance(entry, Mapping):
            entries.append(dict(entry))
        else:
            fail(key, f"matrix {key}[{index}] must be a mapping, got {_kind(entry)}")
    return entries


def _same(a: Any, b: Any) -> bool:
    """Deep equality of matrix values; booleans never equal numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _partial(pattern: Any, value: Any) -> bool:
    """Whether an exclude entry (or one of its values) matches a combination (value)."""
    if isinstance(pattern, Mapping) and isinstance(value, Mapping):
        return all(k in value and _partial(v, value[k]) for k, v in pattern.items())
    return _same(pattern, value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _short(value: Any) -> str:
    text = display(value)
    return text if len(text) <= 30 else text[:27] + "..."

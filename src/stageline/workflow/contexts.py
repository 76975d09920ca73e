"""Which contexts and special functions each workflow key may use, and the checks
that hold every ``${{ }}`` of a file to it.

The table is GitHub's "Context availability" table (Contexts reference). Keys not
in GitHub's table that still take expressions (a step's ``shell``) use the step's
row; keys that take no expressions at all (``uses``, ``needs``, ``on`` filters,
workflow-level ``defaults``) map to an empty row, so any ``${{`` there is an error.

One context is Stageline's own: ``stageline`` (docs/deployments.md), which a deploy job
gets once it has passed its environment's gate, and a rollback's re-run of it gets with
``stageline.rollback`` true. It is therefore allowed only in the keys the job itself
evaluates after the gate (its ``env``, its steps, its ``outputs``), never in those the
scheduler decides before (``if``, ``strategy``, ``runs-on``, ``environment``). A job
without ``environment:`` has no ``stageline`` context, so using it there fails that job
when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from stageline.errors import Diagnostic, ExpressionError
from stageline.expressions import FUNCTION_NAMES, STATUS_FUNCTIONS, check, iter_templates
from stageline.workflow.yamlsrc import ScalarNode, Source

_STATUS = frozenset(STATUS_FUNCTIONS)
_HASH = frozenset({"hashFiles"})
#: Functions every key that takes expressions may call.
_GENERAL = frozenset(FUNCTION_NAMES) - _STATUS - _HASH


@dataclass(frozen=True, slots=True)
class Availability:
    """The named values and functions one workflow key may use."""

    contexts: frozenset[str]
    functions: frozenset[str] = frozenset()

    @property
    def special(self) -> frozenset[str]:
        """The functions beyond those every key may call (status checks, hashFiles)."""
        return self.functions - _GENERAL


def _row(contexts: str, special: frozenset[str] = frozenset()) -> Availability:
    return Availability(frozenset(contexts.split()), _GENERAL | special)


_STEP = "github needs strategy matrix job runner env vars secrets steps inputs stageline"
_JOB_VALUE = "github needs strategy matrix vars inputs"
_NONE = Availability(frozenset())

AVAILABILITY: dict[str, Availability] = {
    "run-name": _row("github inputs vars"),
    "concurrency": _row("github inputs vars"),
    "env": _row("github secrets inputs vars"),
    "defaults.run": _NONE,
    "on": _NONE,
    "on.workflow_call.inputs.<input_id>.default": _row("github inputs vars"),
    "on.workflow_call.outputs.<output_id>.value": _row("github jobs vars inputs"),
    "jobs.<job_id>.concurrency": _row(_JOB_VALUE),
    "jobs.<job_id>.container": _row(_JOB_VALUE),
    "jobs.<job_id>.container.credentials": _row(f"{_JOB_VALUE} env secrets"),
    "jobs.<job_id>.container.env.<env_id>": _row(f"{_JOB_VALUE} job runner env secrets"),
    "jobs.<job_id>.continue-on-error": _row(_JOB_VALUE),
    "jobs.<job_id>.defaults.run": _row(f"{_JOB_VALUE} env"),
    "jobs.<job_id>.env": _row(f"{_JOB_VALUE} secrets stageline"),
    "jobs.<job_id>.environment": _row(_JOB_VALUE),
    "jobs.<job_id>.environment.url": _row(f"{_JOB_VALUE} job runner env steps"),
    "jobs.<job_id>.if": _row("github needs vars inputs", _STATUS),
    "jobs.<job_id>.name": _row(_JOB_VALUE),
    "jobs.<job_id>.needs": _NONE,
    "jobs.<job_id>.outputs.<output_id>": _row(_STEP),
    "jobs.<job_id>.permissions": _NONE,
    "jobs.<job_id>.runs-on": _row(_JOB_VALUE),
    "jobs.<job_id>.secrets.<secret_id>": _row(f"{_JOB_VALUE} secrets"),
    "jobs.<job_id>.services": _row(_JOB_VALUE),
    "jobs.<job_id>.services.<service_id>.credentials": _row(f"{_JOB_VALUE} env secrets"),
    "jobs.<job_id>.services.<service_id>.env.<env_id>": _row(
        f"{_JOB_VALUE} job runner env secrets"
    ),
    "jobs.<job_id>.steps.continue-on-error": _row(_STEP, _HASH),
    "jobs.<job_id>.steps.env": _row(_STEP, _HASH),
    "jobs.<job_id>.steps.id": _NONE,
    "jobs.<job_id>.steps.if": _row(
        "github needs strategy matrix job runner env vars steps inputs stageline",
        _STATUS | _HASH,
    ),
    "jobs.<job_id>.steps.name": _row(_STEP, _HASH),
    "jobs.<job_id>.steps.run": _row(_STEP, _HASH),
    "jobs.<job_id>.steps.shell": _row(_STEP, _HASH),
    "jobs.<job_id>.steps.timeout-minutes": _row(_STEP, _HASH),
    "jobs.<job_id>.steps.uses": _NONE,
    "jobs.<job_id>.steps.with": _row(_STEP, _HASH),
    "jobs.<job_id>.steps.working-directory": _row(_STEP, _HASH),
    "jobs.<job_id>.strategy": _row("github needs vars inputs"),
    "jobs.<job_id>.timeout-minutes": _row(_JOB_VALUE),
    "jobs.<job_id>.uses": _NONE,
    "jobs.<job_id>.with.<with_id>": _row(_JOB_VALUE),
}


class ExpressionChecks:
    """Checks the expressions of one file against `AVAILABILITY`, reporting into its
    `Source` with the position of the fault inside the scalar."""

    def __init__(self, source: Source) -> None:
        self.source = source
        #: (expression, key) → its fault: big workflows repeat the same expressions.
        self._seen: dict[tuple[str, str], ExpressionError | None] = {}

    def template(self, node: ScalarNode, text: str, key: str) -> None:
        """Every ``${{ }}`` embedded in a string value of `key`."""
        if "${{" not in text:
            return
        self._templates(node, text, key)

    def condition(self, node: ScalarNode, text: str, key: str) -> None:
        """An ``if:`` value: a bare expression, or one ``${{ }}`` wrapping it."""
        stripped = text.strip()
        if "${{" not in text:
            if stripped:  # an empty condition means success()
                self._check(node, text, key, 0, None)
            return
        templates = self._templates(node, text, key)
        whole = len(templates) == 1 and stripped.startswith("${{") and stripped.endswith("}}")
        if templates and not whole:
            self.source.warn(
                node,
                "this `if:` mixes ${{ }} with other text, so it is a non-empty string "
                "and always true",
                hint="put the whole condition inside one ${{ }}, or drop the ${{ }}",
            )

    def _templates(self, node: ScalarNode, text: str, key: str) -> list[tuple[int, str]]:
        try:
            templates = list(iter_templates(text))
        except ExpressionError as err:
            self._report(node, err, key, err.offset, err.offset)
            return []
        for offset, inner in templates:
            self._check(node, inner, key, offset + 3, offset)
        return templates

    def _check(
        self, node: ScalarNode, expression: str, key: str, start: int, anchor: int | None
    ) -> None:
        rule = AVAILABILITY[key]
        if not rule.contexts:
            self.source.error(
                self.source.locate(node, start if anchor is None else anchor, anchor),
                f"expressions are not allowed in `{key}`",
                hint="write the value literally",
            )
            return
        memo = (expression, key)
        if memo in self._seen:
            fault = self._seen[memo]
        else:
            try:
                check(expression, rule.contexts, functions=rule.functions)
                fault = None
            except ExpressionError as err:
                fault = err
            self._seen[memo] = fault
        if fault is not None:
            self._report(node, fault, key, start + fault.offset, anchor)

    def _report(
        self, node: ScalarNode, err: ExpressionError, key: str, offset: int, anchor: int | None
    ) -> None:
        rule = AVAILABILITY[key]
        hint = err.hint
        if hint is None and rule.contexts:
            hint = f"`{key}` may use: {', '.join(sorted(rule.contexts))}"
            if rule.special:
                hint += f"; and {', '.join(f'{name}()' for name in sorted(rule.special))}"
        position = self.source.locate(node, offset, anchor)
        self.source.diagnostics.append(
            Diagnostic(position, f"invalid expression: {err.message}", hint=hint)
        )

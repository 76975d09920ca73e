"""Building and moving `ExpressionError`s.

Every fault of the expression language goes through `fault`, so every message
ends with ``at column N`` (1-based) and `offset` holds the 0-based position.
`shifted` re-bases an error found in an inner expression onto the text that
embeds it (a ``${{ }}`` template), keeping message and offset in step.
"""

from __future__ import annotations

from stageline.errors import ExpressionError

_SUFFIX = " at column "


def fault(message: str, offset: int, hint: str | None = None) -> ExpressionError:
    """An `ExpressionError` whose message names the 1-based column of `offset`."""
    return ExpressionError(f"{message}{_SUFFIX}{offset + 1}", offset, hint=hint)


def shifted(error: ExpressionError, delta: int) -> ExpressionError:
    """The same error, `delta` characters further into an enclosing text."""
    base = error.message.rpartition(_SUFFIX)[0] or error.message
    return fault(base, error.offset + delta, error.hint)

"""`secrets.GITHUB_TOKEN` without GitHub.

GitHub gives every job an installation token; Stageline issues none. So that workflows
read as written, `secrets.GITHUB_TOKEN` is the empty string (and `toJSON(secrets)` shows
it, as on GitHub), and the first step of a job that reads it gets a warning saying why
an API call may fail. A token the user passes (`-s GITHUB_TOKEN=...`, which is also
`github.token`) is used as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from stageline.plan.model import PlannedStep

TOKEN = "GITHUB_TOKEN"
WARNING = (
    "secrets.GITHUB_TOKEN is empty: Stageline issues no GitHub token; "
    "pass one with `-s GITHUB_TOKEN=...` if this step calls GitHub's API"
)
_REFERENCE = re.compile(
    r"\bsecrets\s*(?:\.\s*github_token\b|\[\s*'github_token'\s*\])", re.IGNORECASE
)


def given(secrets: Mapping[str, str]) -> bool:
    """Whether the user passed a token."""
    return any(name.upper() == TOKEN for name in secrets)


def secrets_context(secrets: Mapping[str, str]) -> dict[str, str]:
    """The `secrets` context: the given secrets, and an empty token when none was given."""
    return dict(secrets) if given(secrets) else {TOKEN: "", **secrets}


def reads_token(text: object) -> bool:
    """Whether an expression in `text` reads `secrets.GITHUB_TOKEN`."""
    return isinstance(text, str) and "${{" in text and _REFERENCE.search(text) is not None


def step_reads_token(step: PlannedStep) -> bool:
    texts: Iterable[object] = (
        step.run,
        step.if_,
        step.name,
        *step.with_.values(),
        *(step.env.values() if isinstance(step.env, dict) else [step.env]),
    )
    return any(reads_token(text) for text in texts)


__all__ = ["TOKEN", "WARNING", "given", "reads_token", "secrets_context", "step_reads_token"]

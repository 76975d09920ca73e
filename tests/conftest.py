"""The whole suite is hermetic: nothing outside 127.0.0.1 is ever reached.

Remote actions are fetched with `git`; every git process the tests start (directly or
through `stageline`, whatever STAGELINE_* settings a helper strips) has github.com
rewritten to a closed port on 127.0.0.1, and the action cache lives in the session's
temp directory instead of the user's. Tests that fetch actions start their own git
server on 127.0.0.1 and point STAGELINE_ACTIONS_URL at it."""

from __future__ import annotations

import os
import tempfile

import pytest

#: A port nothing listens on (discard): a fetch there fails at once.
CLOSED = "git://127.0.0.1:9/"


def pytest_configure(config: pytest.Config) -> None:
    os.environ["GIT_CONFIG_COUNT"] = "2"
    for index, remote in enumerate(("https://github.com/", "git@github.com:")):
        os.environ[f"GIT_CONFIG_KEY_{index}"] = f"url.{CLOSED}.insteadOf"
        os.environ[f"GIT_CONFIG_VALUE_{index}"] = remote
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="stageline-test-cache-")

from pathlib import Path

from stageline.runner.actions.call import ActionCall
from stageline.runner.logs import NullLog
from stageline.runner.state import Scope
from tests.runner.helpers import step
from tests.runner.test_state import make_state


def call(tmp: Path, ref: str, **inputs: str) -> ActionCall:
    state = make_state(tmp)
    return ActionCall(
        state=state,
        scope=Scope(index=0, log=NullLog()),
        step=step(0, uses=f"x/y@{ref}"),
        inputs=dict(inputs),
        contexts={},
        own_env={},
        deadline=0.0,
        action="a",
        ref=ref,
    )


def test_inputs_match_case_insensitively_with_defaults_and_flags(tmp_path: Path) -> None:
    c = call(tmp_path, "v4", **{"Fetch-Depth": "0", "clean": "false"})
    assert c.input("fetch-depth") == "0" and c.input("missing", "d") == "d"
    assert c.flag("clean", True) is False and c.flag("other", True) is True


def test_major_version(tmp_path: Path) -> None:
    assert call(tmp_path / "a", "v3").major_version() == 3
    assert call(tmp_path / "b", "v4.1.2").major_version() == 4
    assert call(tmp_path / "c", "main").major_version() is None


def test_workspace_paths(tmp_path: Path) -> None:
    c = call(tmp_path, "v1")
    assert c.workspace_path("a/../b") == str(tmp_path / "ws" / "b")

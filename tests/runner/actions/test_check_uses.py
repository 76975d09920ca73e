from pathlib import Path

import pytest

from stageline.runner.actions import check_uses


@pytest.mark.parametrize(
    "uses",
    [
        "actions/checkout@v4",
        "actions/upload-artifact@v3",
        "actions/download-artifact@main",
        "actions/cache@v4",
        "actions/cache/restore@v4",
        "hmarr/auto-approve-action@v2",
    ],
)
def test_builtins_are_accepted_at_any_ref(uses: str, tmp_path: Path) -> None:
    assert check_uses(uses, str(tmp_path), []) is None


def test_an_action_missing_offline_names_it_and_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_OFFLINE", "1")
    message = check_uses("actions/setup-node@v4", str(tmp_path), [])
    assert message is not None
    assert "actions/setup-node@v4" in message and "stageline actions pull" in message
    assert ".stageline/actions/actions/setup-node@v4" in message


def test_local_and_vendored_actions(tmp_path: Path) -> None:
    (tmp_path / "act").mkdir()
    (tmp_path / "act/action.yml").write_text("runs:\n  using: composite\n  steps: []\n")
    vendored = tmp_path / "vend/acme/tool@v1/sub"
    vendored.mkdir(parents=True)
    (vendored / "action.yaml").write_text("runs:\n  using: node20\n  main: index.js\n")
    (vendored / "index.js").write_text("")
    assert check_uses("./act", str(tmp_path), []) is None
    assert check_uses("acme/tool/sub@v1", str(tmp_path), [str(tmp_path / "vend")]) is None
    assert "no action.yml" in (check_uses("./missing", str(tmp_path), []) or "")


def test_unsupported_kinds(tmp_path: Path) -> None:
    (tmp_path / "dock").mkdir()
    (tmp_path / "dock/action.yml").write_text("runs:\n  using: docker\n  image: Dockerfile\n")
    assert "need a Docker engine" in (check_uses("./dock", str(tmp_path), []) or "")
    assert "need a Docker engine" in (check_uses("docker://alpine:3", str(tmp_path), []) or "")
    assert "not a valid action reference" in (check_uses("nonsense", str(tmp_path), []) or "")
    assert "expressions" in (check_uses("${{ matrix.a }}@v1", str(tmp_path), []) or "")


def test_composite_actions_are_checked_recursively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_OFFLINE", "1")
    (tmp_path / "outer").mkdir()
    (tmp_path / "outer/action.yml").write_text(
        "runs:\n  using: composite\n  steps:\n    - uses: actions/setup-python@v5\n"
    )
    message = check_uses("./outer", str(tmp_path), [])
    assert message is not None and "actions/setup-python@v5" in message and "./outer" in message


def test_the_self_repository_form_is_the_workflows_own_repository(tmp_path: Path) -> None:
    """`uses: $/PATH` names an action in the workflow's own repository, which here
    is the checkout the run uses."""
    (tmp_path / ".github/actions/build").mkdir(parents=True)
    (tmp_path / ".github/actions/build/action.yml").write_text(
        "runs:\n  using: composite\n  steps: []\n"
    )
    assert check_uses("$/.github/actions/build", str(tmp_path), []) is None
    assert "no action.yml" in (check_uses("$/.github/actions/gone", str(tmp_path), []) or "")

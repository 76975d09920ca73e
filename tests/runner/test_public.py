"""The runner's public surface, pinned."""

import stageline.executors.base as base
import stageline.runner as runner
from stageline.runner import contract


def test_public_names() -> None:
    assert sorted(runner.__all__) == ["check_uses", "fast_work_root", "remove_tree", "run_job"]


def test_executors_base_re_exports_the_contract_dataclasses() -> None:
    for name in contract.__all__:
        assert getattr(base, name) is getattr(contract, name)

import pytest

from stageline.errors import ConfigError
from stageline.executors import get_executor
from stageline.executors.local import LocalExecutor


def test_local_by_short_name() -> None:
    executor = get_executor("local")
    assert isinstance(executor, LocalExecutor) and executor.name == "local"


def test_unknown_name_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        get_executor("nope")
    assert "nope" in str(info.value) and "local" in str(info.value)

"""Executors: where a job runs. `get_executor` picks one by its short name.

Executors register here lazily (module path and class name), so importing this package
loads no executor and nothing heavy.
"""

from __future__ import annotations

import importlib

from stageline.errors import ConfigError
from stageline.executors.base import Executor

#: Short name → "module:Class". The engine's fake executor registers as "fake".
REGISTRY: dict[str, str] = {
    "local": "stageline.executors.local:LocalExecutor",
    "sandbox": "stageline.executors.sandbox:SandboxExecutor",
    "fake": "stageline.executors.fake:FakeExecutor",
}


def get_executor(name: str) -> Executor:
    """A new executor instance for `name` (raises ConfigError for an unknown name)."""
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError(f"unknown executor '{name}'", hint=f"use one of: {known}") from None
    module_name, _, class_name = target.partition(":")
    executor: Executor = getattr(importlib.import_module(module_name), class_name)()
    return executor


__all__ = ["REGISTRY", "Executor", "get_executor"]

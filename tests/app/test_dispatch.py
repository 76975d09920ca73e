"""What the dispatcher decides without a broker: labels to queues (ADR 0012), and the
runner name a local job records."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from stageline.app import runs
from stageline.app.dispatch import labels_of, no_worker_text, parse_queue_map, queue_for
from stageline.engine.setup import RunOptions
from stageline.errors import ConfigError, RunError


def test_default_labels_go_to_the_default_queue_and_others_to_their_own() -> None:
    assert queue_for(["ubuntu-latest"]) == "default"
    assert queue_for(["self-hosted", "linux"]) == "default"
    assert queue_for(["self-hosted", "gpu"]) == "gpu"
    assert queue_for([]) == "default"
    mapped = (("gpu-*", "gpu"), ("ubuntu-*", "builders"))
    assert queue_for(["self-hosted", "gpu-a100"], mapped) == "gpu"
    assert queue_for(["ubuntu-22.04"], mapped) == "builders"
    with pytest.raises(RunError, match="maps to the queues arm and gpu"):
        queue_for(["gpu", "arm"])


def test_runs_on_becomes_labels_with_its_expressions_evaluated() -> None:
    contexts = {"matrix": {"os": "ubuntu-22.04", "tags": ["gpu", "big"]}}
    assert labels_of("ubuntu-latest", {}) == ["ubuntu-latest"]
    assert labels_of(["self-hosted", "${{ matrix.os }}"], contexts) == [
        "self-hosted",
        "ubuntu-22.04",
    ]
    assert labels_of("${{ matrix.tags }}", contexts) == ["gpu", "big"]
    assert labels_of({"group": "g", "labels": ["linux"]}, {}) == ["linux"]
    assert labels_of(None, {}) == []
    assert no_worker_text(["self-hosted", "gpu"]) == "no worker serves [self-hosted, gpu]"


def test_queue_options_are_label_equals_queue() -> None:
    assert parse_queue_map(["gpu*=gpu", " arm = arm64 "]) == (("gpu*", "gpu"), ("arm", "arm64"))
    with pytest.raises(ConfigError, match="expected LABEL=QUEUE"):
        parse_queue_map(["gpu"])


def test_a_local_job_records_the_host_as_its_runner(repo: Path) -> None:
    finished = runs.start(runs.prepare(RunOptions(cwd=repo)))
    [detail] = finished.runs
    assert {job.runner_name for job in detail.jobs} == {socket.gethostname()}

"""deploy and notify stay in their layer: no store, server or engine; Apprise only on demand.

(Rich is not checked: httpx, which the monitors use, imports it itself when installed.)
"""

from __future__ import annotations

import json
import subprocess
import sys


def test_imports_stay_in_their_layer() -> None:
    code = (
        "import sys, json\n"
        "import stageline.durations, stageline.notify\n"
        "import stageline.deploy.config, stageline.deploy.gates, stageline.deploy.branches\n"
        "import stageline.deploy.monitors, stageline.deploy.lint, stageline.deploy.dora\n"
        "import stageline.deploy.records, stageline.deploy.reviewers\n"
        "print(json.dumps(sorted(m for m in ('sqlalchemy', 'fastapi', 'apprise',"
        " 'stageline.engine', 'stageline.store') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []

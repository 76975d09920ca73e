"""Local and vendored actions: composite and node."""

import shutil
from pathlib import Path

import pytest

from stageline.runs.states import Conclusion
from tests.runner.helpers import job, make_repo, request, run, step

COMPOSITE = """
name: Greet
inputs:
  who:
    description: who
    default: ${{ github.actor }}
outputs:
  greeting:
    value: ${{ steps.say.outputs.text }}
runs:
  using: composite
  steps:
    - id: say
      shell: bash
      run: echo "text=hello ${{ inputs.who }} from $FROM" >> "$GITHUB_OUTPUT"
    - shell: bash
      run: test -f "$GITHUB_ACTION_PATH/action.yml" && echo path-ok
    - uses: ./.github/actions/inner
    - if: failure()
      shell: bash
      run: echo never
"""
INNER = """
runs:
  using: composite
  steps:
    - shell: sh
      run: echo inner-ran
"""


def test_composite_action_with_inputs_outputs_and_nesting(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path,
        {".github/actions/greet/action.yml": COMPOSITE, ".github/actions/inner/action.yaml": INNER},
    )
    planned = job(
        step(0, uses="./.github/actions/greet", id="g", env={"FROM": "step-env"}),
        step(1, uses="./.github/actions/greet", id="h", with_={"who": "bob"}),
        step(2, "echo ${{ steps.g.outputs.greeting }}; echo ${{ steps.h.outputs.greeting }}"),
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    shown = [line for line in sink.lines(0) if not line.startswith("##[command]")]
    assert shown == ["path-ok", "inner-ran"]
    assert sink.lines(2)[1:] == ["hello octocat from step-env", "hello bob from"]
    assert "never" not in sink.lines()


def test_failing_composite_step_fails_the_action(tmp_path: Path) -> None:
    action = (
        "runs:\n  using: composite\n  steps:\n    - run: exit 3\n      shell: bash\n"
        "    - run: echo after\n      shell: bash\n"
    )
    repo = make_repo(tmp_path, {"act/action.yml": action})
    result, sink = run(request(tmp_path, repo, job(step(0, uses="./act"))))
    assert result.steps[0].outcome == Conclusion.FAILURE
    assert "after" not in sink.lines(0)


NODE_ACTION = """
name: node one
inputs:
  my-input: {default: dflt}
  Other Name: {}
runs:
  using: node20
  main: main.js
  post: post.js
"""
MAIN_JS = """
const fs = require('fs');
console.log('input=' + process.env['INPUT_MY-INPUT'] + ' other=' + process.env['INPUT_OTHER_NAME']);
fs.appendFileSync(process.env.GITHUB_OUTPUT, 'result=ok\\n');
fs.appendFileSync(process.env.GITHUB_STATE, 'pid=1234\\n');
"""
POST_JS = "console.log('post state=' + process.env.STATE_pid);\n"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_action_in_an_action_dir_with_post_step(tmp_path: Path) -> None:
    actions = tmp_path / "vendored/acme/tool@v1"
    actions.mkdir(parents=True)
    (actions / "action.yml").write_text(NODE_ACTION)
    (actions / "main.js").write_text(MAIN_JS)
    (actions / "post.js").write_text(POST_JS)
    repo = make_repo(tmp_path)
    planned = job(
        step(0, uses="acme/tool@v1", id="t", with_={"Other Name": "x"}),
        step(1, "echo ${{ steps.t.outputs.result }}"),
    )
    req = request(tmp_path, repo, planned, action_dirs=[str(tmp_path / "vendored")])
    result, sink = run(req)
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    assert sink.lines(0)[-1] == "input=dflt other=x"
    assert sink.lines(1)[-1] == "ok"
    assert result.steps[2].name == "Post Run acme/tool@v1"
    assert sink.lines(2)[-1] == "post state=1234"


def test_unknown_action_fails_the_step_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_OFFLINE", "1")
    repo = make_repo(tmp_path)
    result, _ = run(request(tmp_path, repo, job(step(0, uses="someone/thing@v2"))))
    assert result.conclusion == Conclusion.FAILURE
    assert ".stageline/actions/someone/thing@v2" in result.annotations[0].message

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


TRACED_ACTION = """
name: traced
inputs:
  file: {{required: true}}
  tag: {{default: none}}
runs:
  using: node20
  pre: pre.js
  pre-if: {pre_if}
  main: main.js
  post: post.js
"""
TRACE = """\
const fs = require('fs');
const env = process.env;
const say = (...words) => fs.appendFileSync(env.INPUT_FILE, words.map(String).join(' ') + '\\n');
const save = (name, value) => fs.appendFileSync(env.GITHUB_STATE, `${name}=${value}\\n`);
"""
TRACED_JS = {
    "pre.js": TRACE
    + "say('pre', env.INPUT_TAG); save('from_pre', 'p-' + env.INPUT_TAG);\n"
    + "if (env.INPUT_TAG === 'broken') process.exit(3);\n",
    "main.js": TRACE
    + "say('main', env.INPUT_TAG, env.STATE_from_pre); save('from_main', 'm-' + env.INPUT_TAG);\n",
    "post.js": TRACE + "say('post', env.INPUT_TAG, env.STATE_from_pre, env.STATE_from_main);\n",
}


def traced_actions(root: Path, **pre_ifs: str) -> str:
    """Node actions `acme/<name>@v1` (vendored under `root`) that append what each of
    their scripts saw to the file given as input `file`; `pre_ifs` maps name to pre-if."""
    for name, pre_if in pre_ifs.items():
        directory = root / "acme" / f"{name}@v1"
        directory.mkdir(parents=True)
        (directory / "action.yml").write_text(TRACED_ACTION.format(pre_if=pre_if))
        for file, text in TRACED_JS.items():
            (directory / file).write_text(text)
    return str(root)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_pre_runs_at_job_start_in_step_order_and_passes_its_state(tmp_path: Path) -> None:
    actions = traced_actions(tmp_path / "vendored", tool="always()")
    trace = tmp_path / "trace.txt"
    repo = make_repo(tmp_path)
    planned = job(
        step(0, f"echo script-1 >> {trace}"),
        step(1, uses="acme/tool@v1", if_="false", with_={"file": str(trace), "tag": "a"}),
        step(2, uses="acme/tool@v1", with_={"file": str(trace), "tag": "${{ runner.os }}"}),
    )
    result, _ = run(request(tmp_path, repo, planned, action_dirs=[actions]))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    assert trace.read_text().splitlines() == [
        "pre a",  # runs although the step's `if:` is false, as on GitHub
        "pre Linux",
        "script-1",
        "main Linux p-Linux",
        "post Linux p-Linux m-Linux",  # reverse order
        "post a p-a undefined",  # registered by the pre: main never ran
    ]
    ran = [(s.index, s.name, s.conclusion) for s in result.steps]
    assert ran == [
        (3, "Pre Run acme/tool@v1", Conclusion.SUCCESS),
        (4, "Pre Run acme/tool@v1", Conclusion.SUCCESS),
        (0, "Run echo script-1 >> " + str(trace), Conclusion.SUCCESS),
        (1, "Run acme/tool@v1", Conclusion.SKIPPED),
        (2, "Run acme/tool@v1", Conclusion.SUCCESS),
        (5, "Post Run acme/tool@v1", Conclusion.SUCCESS),
        (6, "Post Run acme/tool@v1", Conclusion.SUCCESS),
    ]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_pre_if_false_skips_the_pre_only(tmp_path: Path) -> None:
    actions = traced_actions(tmp_path / "vendored", tool="runner.os == 'Windows'")
    trace = tmp_path / "trace.txt"
    repo = make_repo(tmp_path)
    planned = job(step(0, uses="acme/tool@v1", with_={"file": str(trace), "tag": "x"}))
    result, _ = run(request(tmp_path, repo, planned, action_dirs=[actions]))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    assert trace.read_text().splitlines() == ["main x undefined", "post x undefined m-x"]
    assert [(s.name, s.conclusion) for s in result.steps] == [
        ("Pre Run acme/tool@v1", Conclusion.SKIPPED),
        ("Run acme/tool@v1", Conclusion.SUCCESS),
        ("Post Run acme/tool@v1", Conclusion.SUCCESS),
    ]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_failing_pre_fails_the_job_before_its_steps(tmp_path: Path) -> None:
    actions = traced_actions(tmp_path / "vendored", tool="always()", next="success()")
    trace = tmp_path / "trace.txt"
    repo = make_repo(tmp_path)
    planned = job(
        step(0, f"echo script-1 >> {trace}"),
        step(1, uses="acme/tool@v1", with_={"file": str(trace), "tag": "broken"}),
        step(2, uses="acme/next@v1", with_={"file": str(trace), "tag": "n"}),
    )
    result, _ = run(request(tmp_path, repo, planned, action_dirs=[actions]))
    assert result.conclusion == Conclusion.FAILURE
    # the second pre-if sees the job's status; post-if (always()) still cleans up
    assert trace.read_text().splitlines() == ["pre broken", "post broken p-broken undefined"]
    assert [(s.name, s.conclusion) for s in result.steps] == [
        ("Pre Run acme/tool@v1", Conclusion.FAILURE),
        ("Pre Run acme/next@v1", Conclusion.SKIPPED),
        ("Run echo script-1 >> " + str(trace), Conclusion.SKIPPED),
        ("Run acme/tool@v1", Conclusion.SKIPPED),
        ("Run acme/next@v1", Conclusion.SKIPPED),
        ("Post Run acme/tool@v1", Conclusion.SUCCESS),
    ]

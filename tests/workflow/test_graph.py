"""The job graph: cycles, topological layers and the text/mermaid/dot/json renderings."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stageline.errors import Position, WorkflowError
from stageline.workflow.graph import (
    JobGraph,
    find_cycle,
    job_graph,
    layers,
    to_dot,
    to_json,
    to_mermaid,
    to_text,
)
from stageline.workflow.model import Job, Strategy, Workflow

PATH = ".github/workflows/pipeline.yml"
# The multi-stage pipeline of shared/examples/multi-stage.yml.
MULTI_STAGE = {
    "build": [],
    "test": ["build"],
    "deploy-staging": ["test"],
    "approval": ["deploy-staging"],
    "deploy-production": ["approval"],
}


def workflow(needs: dict[str, list[str]], **extra: Job) -> Workflow:
    jobs = {
        jid: Job(Position(PATH, 8 + i * 6, 3), id=jid, needs=n)
        for i, (jid, n) in enumerate(needs.items())
    }
    jobs.update(extra)
    return Workflow(Position(PATH), path=PATH, name="Multi-Stage CI/CD", jobs=jobs)


def mermaid_edges(text: str) -> list[tuple[str, str]]:
    edges = []
    for line in text.splitlines()[1:]:
        if "-->" in line:
            nodes = [part.strip() for part in line.split("-->")]
            edges.extend(itertools.pairwise(nodes))
    return edges


def test_find_cycle_names_the_jobs_of_the_cycle_in_order() -> None:
    assert find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]}) == ["a", "c", "b"]
    assert find_cycle({"x": ["a"], "a": ["b"], "b": ["a"]}) == ["a", "b"]
    assert find_cycle({"solo": ["solo"]}) == ["solo"]


def test_find_cycle_ignores_unknown_names_and_accepts_dags() -> None:
    assert find_cycle(MULTI_STAGE) is None
    assert find_cycle({"a": ["ghost"], "b": ["a", "a"]}) is None
    assert find_cycle({}) is None


def test_layers_of_the_multi_stage_pipeline() -> None:
    assert layers(MULTI_STAGE) == [
        ["build"],
        ["test"],
        ["deploy-staging"],
        ["approval"],
        ["deploy-production"],
    ]


def test_layers_put_a_job_below_its_deepest_need_in_file_order() -> None:
    needs = {
        "e2e": ["build"],
        "build": [],
        "lint": [],
        "unit": ["build"],
        "deploy": ["e2e", "unit", "lint"],
        "docs": ["lint"],
    }
    assert layers(needs) == [["build", "lint"], ["e2e", "unit", "docs"], ["deploy"]]


def test_layers_raise_on_a_cycle_naming_its_jobs() -> None:
    with pytest.raises(WorkflowError) as caught:
        layers({"build": [], "a": ["build", "b"], "b": ["a"]})
    assert "a → b → a" in caught.value.message


@given(st.integers(min_value=1, max_value=40), st.randoms(use_true_random=False))
def test_layers_respect_every_need(size: int, rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    names = [f"j{i}" for i in range(size)]
    needs = {n: rnd.sample(names[:i], k=min(i, rnd.randint(0, 3))) for i, n in enumerate(names)}
    depth = {job: d for d, layer in enumerate(layers(needs)) for job in layer}
    assert sorted(depth) == sorted(names)
    for job, deps in needs.items():
        assert all(depth[d] < depth[job] for d in deps)
        assert depth[job] == 0 or any(depth[d] == depth[job] - 1 for d in deps)


def test_mermaid_of_the_multi_stage_pipeline_is_one_chain() -> None:
    text = to_mermaid(workflow(MULTI_STAGE))
    assert text.splitlines() == [
        "flowchart TD",
        "    build --> test --> deploy-staging --> approval --> deploy-production",
    ]


def test_mermaid_shows_every_edge_once_and_matrix_legs() -> None:
    test = Job(
        Position(PATH, 20, 3),
        id="test",
        needs=["build"],
        strategy=Strategy(
            Position(PATH, 22, 5), matrix={"python": ["3.11", "3.12"], "os": ["ubuntu", "macos"]}
        ),
    )
    needs = {"build": [], "lint": ["build"], "deploy": ["test", "lint"]}
    wf = workflow(needs, test=test)
    text = to_mermaid(wf)
    expected = {("build", "lint"), ("lint", "deploy"), ("test", "deploy"), ("build", "test")}
    edges = mermaid_edges(text)
    assert sorted(edges) == sorted(expected)
    label = next(line for line in text.splitlines() if line.strip().startswith("test["))
    assert "matrix: 4 jobs" in label
    assert "3.11, ubuntu<br/>3.11, macos<br/>3.12, ubuntu<br/>3.12, macos" in label


def test_mermaid_quotes_labels_and_renames_reserved_ids() -> None:
    end = Job(Position(PATH, 30, 3), id="end", name='Say "hi" <now>', needs=["build"])
    text = to_mermaid(workflow({"build": []}, end=end))
    assert '    job1["Say #quot;hi#quot; #lt;now#gt;"]' in text.splitlines()
    assert "    build --> job1" in text.splitlines()
    for line in text.splitlines()[1:]:
        assert re.fullmatch(r"    [A-Za-z_][\w-]*(\[\"[^\"]*\"\]| --> [A-Za-z_][\w-]*.*)", line), (
            line
        )


def test_mermaid_declares_jobs_without_edges() -> None:
    text = to_mermaid(workflow({"alone": [], "also": []}))
    assert text.splitlines()[1:] == ['    alone["alone"]', '    also["also"]']


def test_large_matrices_are_summarised() -> None:
    big = Job(
        Position(PATH, 9, 3),
        id="big",
        strategy=Strategy(
            Position(PATH, 10, 5), matrix={"a": list(range(16)), "b": list(range(16))}
        ),
    )
    text = to_mermaid(workflow({}, big=big))
    assert "matrix: 256 jobs" in text
    assert "... and 248 more" in text


def test_matrix_from_needs_is_shown_as_written() -> None:
    dynamic = Job(
        Position(PATH, 9, 3),
        id="produce",
        needs=["define"],
        strategy=Strategy(
            Position(PATH, 10, 5),
            matrix={"color": "${{ fromJSON(needs.define.outputs.colors) }}"},
        ),
    )
    graph = job_graph(workflow({"define": []}, produce=dynamic))
    node = graph.node("produce")
    assert node.legs == ()
    assert node.matrix is not None and "needs.define.outputs.colors" in node.matrix
    assert "matrix: " in to_text(graph)


def test_dot_lists_nodes_and_edges() -> None:
    text = to_dot(workflow(MULTI_STAGE))
    assert text.startswith('digraph "Multi-Stage CI/CD" {')
    edges = re.findall(r'^  "([^"]+)" -> "([^"]+)";$', text, re.MULTILINE)
    assert edges == [
        ("build", "test"),
        ("test", "deploy-staging"),
        ("deploy-staging", "approval"),
        ("approval", "deploy-production"),
    ]
    assert text.rstrip().endswith("}")


def test_dot_escapes_quotes() -> None:
    odd = Job(Position(PATH, 9, 3), id="odd", name='say "x"')
    assert '"odd" [label="say \\"x\\""];' in to_dot(workflow({}, odd=odd))


def test_json_document() -> None:
    document = json.loads(to_json(workflow(MULTI_STAGE)))
    assert document["workflow"] == "Multi-Stage CI/CD"
    assert document["path"] == PATH
    assert document["layers"] == [[job] for job in MULTI_STAGE]
    assert [(j["id"], j["needs"], j["layer"]) for j in document["jobs"]] == [
        (job, needs, i) for i, (job, needs) in enumerate(MULTI_STAGE.items())
    ]
    assert document["edges"][0] == ["build", "test"]


def test_text_lists_stages() -> None:
    text = to_text(workflow(MULTI_STAGE))
    lines = text.splitlines()
    assert lines[0] == f"Multi-Stage CI/CD ({PATH})"
    assert lines[1:5] == ["stage 1:", "  build", "stage 2:", "  test  needs: build"]
    assert "stage 5:" in lines


def test_through_calls_puts_a_job_needing_a_caller_after_its_called_jobs() -> None:
    from stageline.workflow.graph import layers, through_calls

    needs = {
        "test": [],
        "deploy.1 / ship": ["test"],
        "deploy.2 / ship": ["test"],
        "deploy-more / ship": ["test"],
        "report": ["deploy", "test"],
    }
    resolved = through_calls(needs)
    assert resolved["report"] == ["deploy.1 / ship", "deploy.2 / ship", "test"]
    assert layers(resolved)[-1] == ["report"]


CALLER = """\
name: Deliver
on: push
jobs:
  test:
    runs-on: x
    steps: [{run: x}]
  staging:
    needs: test
    uses: ./.github/workflows/deploy.yml
  production:
    name: Production
    needs: staging
    uses: ./.github/workflows/deploy.yml
  notify:
    needs: production
    runs-on: x
    steps: [{run: x}]
"""
DEPLOY = """\
on: workflow_call
jobs:
  build: {runs-on: x, steps: [{run: x}]}
  ship:
    name: Ship it
    needs: build
    runs-on: x
    steps: [{run: x}]
  smoke: {needs: build, uses: ./.github/workflows/smoke.yml}
"""
SMOKE = "on: workflow_call\njobs:\n  probe: {runs-on: x, steps: [{run: x}]}\n"


def called_graph(tmp_path: Path) -> JobGraph:
    from stageline.workflow.calls import load_callees
    from stageline.workflow.loader import load_workflow

    flows = tmp_path / ".github" / "workflows"
    flows.mkdir(parents=True)
    for name, text in (("ci", CALLER), ("deploy", DEPLOY), ("smoke", SMOKE)):
        (flows / f"{name}.yml").write_text(text)
    workflow = load_workflow(flows / "ci.yml")
    callees = load_callees(workflow, tmp_path)
    assert callees.faults == []
    return job_graph(workflow, callees=callees.workflows)


def test_called_jobs_sit_in_a_cluster_named_after_their_caller(tmp_path: Path) -> None:
    g = called_graph(tmp_path)
    assert [(c.id, c.name, c.parent) for c in g.clusters] == [
        ("staging", "staging", None),
        ("staging / smoke", "smoke", "staging"),
        ("production", "Production", None),
        ("production / smoke", "smoke", "production"),
    ]
    assert g.node("staging / ship").needs == ("staging / build",)
    assert g.node("staging / build").needs == ("test",)
    assert g.node("staging / smoke / probe").needs == ("staging / build",)
    # needing a caller is needing its last jobs
    assert g.node("production / build").needs == ("staging / ship", "staging / smoke / probe")
    assert g.node("notify").needs == ("production / ship", "production / smoke / probe")
    text = to_text(g)
    assert "  staging / ship (Ship it)  needs: staging / build" in text
    assert text.endswith(
        "calls:\n"
        "  staging → ./.github/workflows/deploy.yml: staging / build, staging / ship, "
        "staging / smoke\n"
        "    staging / smoke → ./.github/workflows/smoke.yml: staging / smoke / probe\n"
        "  production → ./.github/workflows/deploy.yml: production / build, production / ship, "
        "production / smoke\n"
        "    production / smoke → ./.github/workflows/smoke.yml: production / smoke / probe\n"
    )


def test_mermaid_and_dot_draw_calls_as_nested_subgraphs(tmp_path: Path) -> None:
    g = called_graph(tmp_path)
    mermaid = to_mermaid(g)
    assert '    subgraph call0["staging (./.github/workflows/deploy.yml)"]\n' in mermaid
    assert '      subgraph call1["smoke (./.github/workflows/smoke.yml)"]\n' in mermaid
    assert '        job3["probe"]\n      end\n    end\n' in mermaid
    assert '    subgraph call2["Production (./.github/workflows/deploy.yml)"]\n' in mermaid
    dot = to_dot(g)
    assert "  subgraph cluster_0 {\n" in dot
    assert '    label="staging (./.github/workflows/deploy.yml)";\n' in dot
    assert '      "staging / smoke / probe" [label="probe"];\n    }\n  }\n' in dot
    assert '  "staging / ship" -> "production / build";\n' in dot
    document = json.loads(to_json(g))
    assert document["calls"][1] == {
        "id": "staging / smoke",
        "name": "smoke",
        "uses": "./.github/workflows/smoke.yml",
        "in": "staging",
    }
    jobs = {j["id"]: j for j in document["jobs"]}
    assert jobs["staging / smoke / probe"]["call"] == "staging / smoke"
    assert jobs["test"]["call"] is None

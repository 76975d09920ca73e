"""Matrix expansion against the worked examples of GitHub's documentation
("Running variations of jobs in a workflow" and "Workflow syntax": strategy.matrix)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stageline.errors import Position, WorkflowError
from stageline.workflow.matrix import (
    MAX_COMBINATIONS,
    expand,
    expand_strategy,
    has_templates,
    leg_name,
    references,
)

POS = Position(".github/workflows/ci.yml", 12, 9)


def test_order_follows_the_order_of_the_variables() -> None:
    # Docs: "The above matrix will create the jobs in the following order."
    combos = expand({"version": [10, 12, 14], "os": ["ubuntu-latest", "windows-latest"]}, POS)
    assert combos == [
        {"version": 10, "os": "ubuntu-latest"},
        {"version": 10, "os": "windows-latest"},
        {"version": 12, "os": "ubuntu-latest"},
        {"version": 12, "os": "windows-latest"},
        {"version": 14, "os": "ubuntu-latest"},
        {"version": 14, "os": "windows-latest"},
    ]


def test_include_extends_original_combinations_and_adds_new_ones() -> None:
    # Docs: "Expanding or adding matrix configurations" (fruit / animal).
    matrix = {
        "fruit": ["apple", "pear"],
        "animal": ["cat", "dog"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    }
    assert expand(matrix, POS) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_include_expanding_one_configuration() -> None:
    # Docs: "Example: Expanding configurations" - four jobs, npm: 6 only on windows/16.
    combos = expand(
        {
            "os": ["windows-latest", "ubuntu-latest"],
            "node": [14, 16],
            "include": [{"os": "windows-latest", "node": 16, "npm": 6}],
        },
        POS,
    )
    assert len(combos) == 4
    assert [c for c in combos if "npm" in c] == [{"os": "windows-latest", "node": 16, "npm": 6}]


def test_include_adding_a_configuration() -> None:
    # Docs: "Example: Adding configurations" - 10 jobs, the last windows-latest/17.
    combos = expand(
        {
            "os": ["macos-latest", "windows-latest", "ubuntu-latest"],
            "version": [12, 14, 16],
            "include": [{"os": "windows-latest", "version": 17}],
        },
        POS,
    )
    assert len(combos) == 10
    assert combos[-1] == {"os": "windows-latest", "version": 17}


def test_include_only_matrix_runs_each_entry() -> None:
    # Docs: "If you don't specify any matrix variables, all configurations under include
    # will run" - two jobs.
    combos = expand(
        {
            "include": [
                {"site": "production", "datacenter": "site-a"},
                {"site": "staging", "datacenter": "site-b"},
            ]
        },
        POS,
    )
    assert combos == [
        {"site": "production", "datacenter": "site-a"},
        {"site": "staging", "datacenter": "site-b"},
    ]


def test_exclude_is_a_partial_match() -> None:
    # Docs: "Excluding matrix configurations" - 12 configurations minus 1 minus 2 = 9.
    combos = expand(
        {
            "os": ["macos-latest", "windows-latest"],
            "version": [12, 14, 16],
            "environment": ["staging", "production"],
            "exclude": [
                {"os": "macos-latest", "version": 12, "environment": "production"},
                {"os": "windows-latest", "version": 16},
            ],
        },
        POS,
    )
    assert len(combos) == 9
    assert {"os": "macos-latest", "version": 12, "environment": "staging"} in combos
    assert not [c for c in combos if c["os"] == "windows-latest" and c["version"] == 16]


def test_include_adds_back_an_excluded_combination() -> None:
    # Docs: "All include combinations are processed after exclude. This allows you to use
    # include to add back combinations that were previously excluded."
    combos = expand(
        {
            "os": ["linux", "windows"],
            "version": [1, 2],
            "exclude": [{"os": "windows"}],
            "include": [{"os": "windows", "version": 2}],
        },
        POS,
    )
    assert combos == [
        {"os": "linux", "version": 1},
        {"os": "linux", "version": 2},
        {"os": "windows", "version": 2},
    ]


def test_include_that_overwrites_an_original_value_is_a_new_job() -> None:
    # Docs: "Handling failures" - "the following workflow will start four jobs".
    combos = expand(
        {
            "version": [6, 7, 8],
            "experimental": [False],
            "include": [{"version": 9, "experimental": True}],
        },
        POS,
    )
    assert combos == [
        {"version": 6, "experimental": False},
        {"version": 7, "experimental": False},
        {"version": 8, "experimental": False},
        {"version": 9, "experimental": True},
    ]


def test_vectors_of_objects() -> None:
    # Docs: "A variable configuration in a matrix can be an array of objects" - 4 jobs.
    legacy = {"version": 20, "env": "NODE_OPTIONS=--openssl-legacy-provider"}
    combos = expand(
        {"os": ["ubuntu-latest", "macos-latest"], "node": [{"version": 14}, legacy]}, POS
    )
    assert combos == [
        {"os": "ubuntu-latest", "node": {"version": 14}},
        {"os": "ubuntu-latest", "node": legacy},
        {"os": "macos-latest", "node": {"version": 14}},
        {"os": "macos-latest", "node": legacy},
    ]


def test_exclude_matches_objects_partially() -> None:
    combos = expand(
        {
            "shared": [True, False],
            "img": [{"os": "ubuntu", "fc": "gfortran"}, {"os": "macos", "fc": "gfortran-13"}],
            "exclude": [{"shared": True, "img": {"os": "macos"}}],
        },
        POS,
    )
    assert len(combos) == 3
    assert {"shared": True, "img": {"os": "macos", "fc": "gfortran-13"}} not in combos


def test_booleans_are_not_numbers_when_matching() -> None:
    combos = expand({"flag": [True, 1], "exclude": [{"flag": 1}]}, POS)
    assert combos == [{"flag": True}]


def test_exactly_256_combinations_is_allowed() -> None:
    assert len(expand({"a": list(range(16)), "b": list(range(16))}, POS)) == MAX_COMBINATIONS


def test_more_than_256_combinations_is_an_error() -> None:
    with pytest.raises(WorkflowError) as caught:
        expand({"a": list(range(16)), "b": list(range(16)), "include": [{"a": 99}]}, POS)
    assert "257 jobs" in caught.value.message
    assert "256" in caught.value.message
    assert caught.value.position == POS


@pytest.mark.parametrize(
    ("matrix", "needle"),
    [
        ({"os": "ubuntu-latest"}, "matrix vector 'os' must be a list, got a string"),
        ({"os": []}, "matrix vector 'os' does not contain any values"),
        ({"os": ["a"], "include": {"x": 1}}, "matrix include must be a list of mappings"),
        ({"os": ["a"], "exclude": ["a"]}, "matrix exclude[0] must be a mapping, got a string"),
        ({"os": ["a"], "exclude": [{"arch": "x"}]}, "exclude key 'arch' does not match any key"),
        ({}, "matrix must define at least one vector or an include list"),
        ({"os": ["a"], "exclude": [{"os": "a"}]}, "every combination is excluded"),
    ],
)
def test_invalid_matrices_are_positioned_errors(matrix: dict[str, object], needle: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        expand(matrix, POS)
    assert needle in str(caught.value)
    assert str(caught.value).startswith(f"{POS}: error: ")


def test_every_fault_is_reported_at_its_key() -> None:
    where = {"os": Position("ci.yml", 14, 13), "node": Position("ci.yml", 15, 15)}
    with pytest.raises(WorkflowError) as caught:
        expand({"os": "linux", "node": []}, POS, positions=where)
    assert [d.position for d in caught.value.diagnostics] == [where["os"], where["node"]]


def test_a_matrix_that_is_not_a_mapping_is_an_error() -> None:
    with pytest.raises(WorkflowError, match="matrix must be a mapping"):
        expand(["a"], POS)  # type: ignore[arg-type]


def test_leg_names_list_every_value_in_order() -> None:
    assert leg_name("test", {"python": "3.11", "os": "ubuntu"}) == "test (3.11, ubuntu)"
    assert leg_name("build", {"os": "windows-latest", "node": 16, "npm": 6}) == (
        "build (windows-latest, 16, 6)"
    )
    assert leg_name("t", {"flag": True, "n": 1.5, "empty": "", "none": None}) == "t (true, 1.5)"
    assert leg_name("t", {"os": "linux", "node": {"version": 20, "env": "X=1"}}) == (
        "t (linux, 20, X=1)"
    )
    assert leg_name("t", {}) == "t"


def test_template_detection() -> None:
    dynamic = {"color": "${{ fromJSON(needs.define-matrix.outputs.colors) }}"}
    assert has_templates(dynamic)
    assert references(dynamic, "needs")
    assert not references({"v": "${{ github.event.client_payload.versions }}"}, "needs")
    assert references("${{ fromJSON(NEEDS.setup.outputs.matrix) }}", "needs")
    assert not references({"v": ["needs"]}, "needs")
    assert not has_templates({"v": [1, 2]})


vectors = st.dictionaries(
    st.sampled_from(["os", "py", "arch", "db"]),
    st.lists(st.sampled_from(["a", "b", "c", 1, 2]), min_size=1, max_size=3, unique=True),
    min_size=1,
)


@given(vectors, st.data())
def test_no_result_matches_an_exclude_entry_unless_included_back(
    matrix: dict[str, list[object]], data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(sorted(matrix)))
    value = data.draw(st.sampled_from(matrix[key]))
    size = 1
    for values in matrix.values():
        size *= len(values)
    try:
        combos = expand({**matrix, "exclude": [{key: value}]}, POS)
    except WorkflowError as err:
        assert "every combination is excluded" in err.message
        assert all(len(v) == 1 for k, v in matrix.items() if k == key)
        return
    assert all(c[key] != value or type(c[key]) is not type(value) for c in combos)
    assert len(combos) == size - size // len(matrix[key])
    assert len({tuple(map(repr, c.values())) for c in combos}) == len(combos)


def test_expression_keys_and_insert_are_evaluated_when_the_matrix_is_expanded() -> None:
    written = {
        "${{ needs.setup.outputs.axis }}": ["vanilla", "mint"],
        "${{ insert }}": "${{ fromJSON(needs.setup.outputs.extra) }}",
        "include": [{"${{ needs.setup.outputs.axis }}": "mint", "hot": True}],
    }
    assert has_templates(written) and references(written, "needs")
    outputs = {"axis": "flavour", "extra": '{"size": ["s"]}'}
    contexts = {"needs": {"setup": {"outputs": outputs, "result": "success"}}}
    assert expand_strategy(written, contexts, POS) == [
        {"flavour": "vanilla", "size": "s"},
        {"flavour": "mint", "size": "s", "hot": True},
    ]


def test_an_insert_that_redefines_a_key_is_a_positioned_matrix_error() -> None:
    written = {"size": ["l"], "${{ insert }}": "${{ fromJSON('{\"size\": [1]}') }}"}
    with pytest.raises(WorkflowError) as caught:
        expand_strategy(written, {}, POS)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.position == POS
    assert diagnostic.message == "in matrix: 'size' is already defined"


def _shared(levels: int, leaf: str) -> list[object]:
    """A list whose expanded tree has 2**levels leaves but only `levels` distinct lists,
    as YAML aliases build it."""
    value: list[object] = [leaf]
    for _ in range(levels):
        value = [value, value]
    return value


def test_walks_of_a_matrix_visit_shared_subtrees_once() -> None:
    matrix = {"os": _shared(60, "ubuntu"), "py": ["3.12"]}
    assert not has_templates(matrix)
    assert not references(matrix, "needs")
    deferred = {"os": _shared(60, "${{ needs.setup.outputs.os }}")}
    assert has_templates(deferred)
    assert references(deferred, "needs")


def test_evaluating_a_shared_matrix_keeps_it_shared() -> None:
    combos = expand_strategy({"os": ["a"], "x": [_shared(60, "${{ 1 }}")]}, {}, POS)
    assert len(combos) == 1
    evaluated = combos[0]["x"]
    assert evaluated[0] is evaluated[1]
    while isinstance(evaluated, list) and len(evaluated) == 2:
        evaluated = evaluated[0]
    assert evaluated == [1]

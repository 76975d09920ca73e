"""The YAML layer: libyaml and pure-Python parsing agree, scalars resolve by the YAML
1.2 core schema (the spec's tag-resolution table, which GitHub's parser follows),
and offsets inside scalars map back to file positions in every scalar style."""

from __future__ import annotations

import pytest

from stageline.workflow.yamlsrc import (
    BOOL,
    FLOAT,
    INT,
    NULL,
    STR,
    MappingNode,
    Node,
    ScalarNode,
    Source,
    YamlSyntaxError,
    resolve,
)
from tests.workflow.support import FULL, where


def flatten(node: Node | None) -> list[tuple[str, str, str, int, int]]:
    """Every node in document order as (kind, tag, scalar text, line, column)."""
    if node is None:
        return []
    text = node.value if isinstance(node, ScalarNode) else ""
    found = [(type(node).__name__, node.tag, text, node.start_mark.line, node.start_mark.column)]
    if isinstance(node, MappingNode):
        for key, value in node.value:
            found += flatten(key) + flatten(value)
    elif not isinstance(node, ScalarNode):
        for item in node.value:
            found += flatten(item)
    return found


def test_libyaml_and_pure_python_compose_the_same_tree() -> None:
    fast = flatten(Source("a.yml", FULL).compose(pure=False))
    pure = flatten(Source("a.yml", FULL).compose(pure=True))
    assert fast == pure
    assert len(fast) > 200


@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 2\nb: 3\n",
        "a:\n  b: 1\n c: 2\n",
        "a: 'x\n",
        "a: b: c\n",
        "a: *missing\n",
        "[" * 100 + "]" * 100,
    ],
)
def test_both_parsers_report_syntax_errors_on_the_same_line(text: str) -> None:
    lines = []
    for pure in (False, True):
        with pytest.raises(YamlSyntaxError) as caught:
            Source("a.yml", text).compose(pure=pure)
        position = caught.value.diagnostic.position
        assert position is not None
        lines.append(position.line)
    assert lines[0] == lines[1]


# YAML 1.2.2, 10.3.2 "Tag Resolution" of the core schema.
@pytest.mark.parametrize(
    ("plain", "tag"),
    [
        ("", NULL), ("~", NULL), ("null", NULL), ("Null", NULL), ("NULL", NULL),
        ("true", BOOL), ("True", BOOL), ("FALSE", BOOL),
        ("0", INT), ("-19", INT), ("+12", INT), ("0o14", INT), ("0x3A", INT), ("0xC", INT),
        ("1.", FLOAT), ("-1.5", FLOAT), ("2.3e4", FLOAT), (".5", FLOAT), (".inf", FLOAT),
        ("-.Inf", FLOAT), (".NaN", FLOAT),
        ("on", STR), ("yes", STR), ("No", STR), ("1_000", STR), ("0b101", STR), ("nULL", STR),
        ("tRUE", STR), ("1.2.3", STR), ("0x", STR), ("push", STR), ("3.10.1", STR),
    ],
)  # fmt: skip
def test_plain_scalars_resolve_by_the_core_schema(plain: str, tag: str) -> None:
    assert resolve(plain, True, None) == tag


def test_quoted_and_explicitly_tagged_scalars() -> None:
    assert resolve("true", False, None) == STR
    assert resolve("12", True, "!") == STR
    assert resolve("12", True, "tag:yaml.org,2002:str") == STR


def scalar_at(text: str, key: str) -> tuple[Source, ScalarNode]:
    source = Source("a.yml", text)
    root = source.compose()
    assert isinstance(root, MappingNode)
    for key_node, value in root.value:
        if key_node.value == key:
            assert isinstance(value, ScalarNode)
            return source, value
    raise AssertionError(key)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("k: echo ${{ bad }}\n", "bad"),
        ("k: 'it''s ${{ bad }}'\n", "bad"),
        ('k: "x ${{ bad }}"\n', "bad"),
        ("k: |\n  one\n    two ${{ bad }}\n", "bad"),
        ("k: |-\n\n  after a blank ${{ bad }}\n", "bad"),
        ("k: >\n  folded\n  text ${{ bad }}\n", "bad"),
        ("k: plain\n  continued ${{ bad }}\n", "bad"),
        ("k: 'quoted\n  continued ${{ bad }}'\n", "bad"),
    ],
    ids=["plain", "single-quoted", "double-quoted", "literal", "literal-blank-line", "folded",
         "multiline-plain", "multiline-quoted"],
)  # fmt: skip
def test_locate_maps_value_offsets_to_file_positions(text: str, needle: str) -> None:
    source, node = scalar_at(text, "k")
    template = node.value.index("${{")
    offset = node.value.index(needle)
    position = source.locate(node, offset, template)
    assert (position.line, position.col) == where(text, needle)


def test_control_character_position_comes_from_the_reader() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        Source("a.yml", "a: 1\nb: x\x01\n").compose()
    position = caught.value.diagnostic.position
    assert position is not None and (position.line, position.col) == (2, 5)

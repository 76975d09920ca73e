from stageline.runner.masking import MASK, Masker


def test_registered_value_is_masked_everywhere_in_a_line() -> None:
    masker = Masker(["s3cret"])
    assert masker.mask("a s3cret and s3cret again") == f"a {MASK} and {MASK} again"


def test_nothing_registered_leaves_text_alone() -> None:
    assert Masker().mask("plain") == "plain"


def test_blank_values_are_not_masked() -> None:
    masker = Masker(["", "   "])
    assert masker.mask("a   b") == "a   b"


def test_each_line_of_a_multiline_secret_is_masked() -> None:
    masker = Masker(["first-line\nsecond-line"])
    assert masker.mask("got second-line here") == f"got {MASK} here"


def test_longer_values_win_over_their_prefixes() -> None:
    masker = Masker(["abc", "abcdef"])
    assert masker.mask("abcdef") == MASK


def test_common_encodings_are_masked_too() -> None:
    masker = Masker(["p@ss word"])
    assert masker.mask("url=p%40ss%20word") == f"url={MASK}"
    assert masker.mask('{"v": "p@ss word"}') == '{"v": "***"}'


def test_values_added_later_apply_from_then_on() -> None:
    masker = Masker()
    assert masker.mask("token-1") == "token-1"
    masker.add("token-1")
    assert masker.mask("token-1") == MASK
    assert masker.contains_secret("x token-1 y")
    assert not masker.contains_secret("token-2")

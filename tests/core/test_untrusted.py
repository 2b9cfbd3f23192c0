"""What text from outside may hold: the checks every parser, form and message share."""

import pytest

from reviewapp.core.untrusted import (
    MAX_JSON_DEPTH,
    json_problems,
    shown,
    text_problem,
    whole_number,
)


@pytest.mark.parametrize(
    "typed,number",
    [
        ("0", 0),
        ("42", 42),
        ("9" * 18, int("9" * 18)),
        ("²", None),
        ("٣", None),
        ("\uff11", None),
        ("9" * 19, None),
        ("-1", None),
        (" 1", None),
        ("1_000", None),
        ("", None),
        (None, None),
    ],
)
def test_whole_number_reads_plain_ascii_digits_only(typed, number):
    assert whole_number(typed) == number


@pytest.mark.parametrize(
    "text,refused",
    [
        ("plain", False),
        ("tab\tand\r\nbreaks", False),
        ("é😀", False),
        ("a\x00", True),
        ("\ud800", True),
        ("\x1b[0m", True),
        ("\x7f", True),
    ],
)
def test_text_problem_refuses_nul_surrogates_and_controls(text, refused):
    assert (text_problem(text) is not None) is refused


def test_controls_may_be_allowed_but_never_nul_or_surrogates():
    assert text_problem("\x1b", controls=True) is None
    assert text_problem("\x00", controls=True) is not None
    assert text_problem("\udfff", controls=True) is not None


def test_json_problems_name_each_place():
    value = {"a": ["ok", "x\x00"], "b\ud800": 1, "c": {"d": float("inf")}, "k" * 201: 0}

    problems = json_problems(value)

    assert set(problems) == {"a.1", "b\ufffd", "c.d", "k" * 79 + "…"}


def test_json_problems_stop_at_the_depth_limit_without_recursing():
    deep: list = []
    for _ in range(50_000):
        deep = [deep]

    problems = json_problems({"x": deep})

    assert list(problems.values()) == [[f"Nested deeper than {MAX_JSON_DEPTH} levels."]]


def test_shown_cuts_and_makes_printable():
    assert shown("a" * 100) == "a" * 79 + "…"
    assert shown("a\x00b\ud800") == "a\ufffdb\ufffd"
    assert shown("short") == "short"

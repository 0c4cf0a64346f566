"""Tests of pacer.model.meta (typed accessors), pacer.model.errors and pacer.model.validate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacer.model.errors import ConfigError, Problem
from pacer.model.meta import (
    INFINITY,
    add_scores,
    format_interval,
    format_score,
    parse_bool,
    parse_int,
    parse_interval_ms,
    parse_score,
    sum_scores,
)

# --------------------------------------------------------------------------- scores


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0", 0),
        ("100", 100),
        ("-100", -100),
        ("+5", 5),
        (" 7 ", 7),
        ("INFINITY", INFINITY),
        ("+INFINITY", INFINITY),
        ("-INFINITY", -INFINITY),
        ("1000000", INFINITY),
        ("999999", 999_999),
        ("5000000", INFINITY),
        ("-5000000", -INFINITY),
        (42, 42),
        (10**9, INFINITY),
    ],
)
def test_parse_score(text, expected):
    assert parse_score(text) == expected


@pytest.mark.parametrize("text", ["abc", "", "1.5", "infinity", "INF", "10abc", "red", True])
def test_parse_score_rejects(text):
    with pytest.raises(ValueError) as exc:
        parse_score(text)
    assert "score" in str(exc.value)


def test_parse_score_hint_for_lowercase_infinity():
    with pytest.raises(ValueError, match="did you mean -INFINITY"):
        parse_score("-infinity")


@pytest.mark.parametrize(
    "text,expected", [("10abc", 10), ("abc", 0), ("", 0), ("infinity", 0), ("-3x", -3)]
)
def test_parse_score_lenient_like_char2score(text, expected):
    assert parse_score(text, lenient=True) == expected


def test_add_scores():
    assert add_scores(1, 2) == 3
    assert add_scores(INFINITY, -INFINITY) == -INFINITY
    assert add_scores(-INFINITY, INFINITY) == -INFINITY
    assert add_scores(INFINITY, -5) == INFINITY
    assert add_scores(999_999, 5) == INFINITY
    assert add_scores(-999_999, -5) == -INFINITY
    assert add_scores(INFINITY, INFINITY) == INFINITY
    assert sum_scores([]) == 0
    assert sum_scores([INFINITY, 10, -INFINITY, INFINITY]) == -INFINITY


score = st.integers(min_value=-INFINITY, max_value=INFINITY)


@given(score, score)
def test_add_scores_commutative_and_bounded(a, b):
    r = add_scores(a, b)
    assert r == add_scores(b, a)
    assert -INFINITY <= r <= INFINITY


@given(score)
def test_format_score_round_trip(s):
    assert parse_score(format_score(s)) == s


def test_format_score():
    assert format_score(INFINITY) == "INFINITY"
    assert format_score(-INFINITY) == "-INFINITY"
    assert format_score(-3) == "-3"


# --------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0", 0),
        ("10", 10_000),
        ("10s", 10_000),
        ("10sec", 10_000),
        ("10 s", 10_000),
        ("500ms", 500),
        ("500msec", 500),
        ("1m", 60_000),
        ("1min", 60_000),
        ("2h", 7_200_000),
        ("2hr", 7_200_000),
        ("1000us", 1),
        ("10S", 10_000),
        ("PT10S", 10_000),
        ("PT1M", 60_000),
        ("PT1H30M", 5_400_000),
        ("P1D", 86_400_000),
        ("P1DT2H", 93_600_000),
        ("P1W", 7 * 86_400_000),
        (20, 20_000),
    ],
)
def test_parse_interval(text, expected):
    assert parse_interval_ms(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "10x", "1.5s", "-5s", "P", "PT", "PTS", "10 minutes"])
def test_parse_interval_rejects(text):
    with pytest.raises(ValueError, match="interval|duration"):
        parse_interval_ms(text)


@pytest.mark.parametrize(
    "text,expected", [("1.5s", 1000), ("10 minutes", 600_000), ("3seconds", 3000), ("2hours", 7_200_000)]
)
def test_parse_interval_lenient_like_crm_get_msec(text, expected):
    assert parse_interval_ms(text, lenient=True) == expected


@given(st.integers(min_value=0, max_value=10**10))
def test_format_interval_round_trip(ms):
    assert parse_interval_ms(format_interval(ms)) == ms


def test_format_interval():
    assert format_interval(0) == "0"
    assert format_interval(10_000) == "10s"
    assert format_interval(500) == "500ms"
    assert format_interval(120_000) == "2min"
    assert format_interval(3_600_000) == "1h"


# --------------------------------------------------------------------------- booleans


@pytest.mark.parametrize("text", ["true", "TRUE", "yes", "Yes", "on", "y", "Y", "1", True, 1])
def test_parse_bool_true(text):
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["false", "False", "no", "off", "n", "0", False, 0])
def test_parse_bool_false(text):
    assert parse_bool(text) is False


def test_parse_bool_invalid():
    with pytest.raises(ValueError, match="not a valid boolean"):
        parse_bool("maybe")
    assert parse_bool("maybe", default=False) is False


def test_parse_int():
    assert parse_int("3") == 3
    assert parse_int("-3") == -3
    assert parse_int("INFINITY", allow_infinity=True) == INFINITY
    with pytest.raises(ValueError, match="not a valid integer"):
        parse_int("abc")
    with pytest.raises(ValueError):
        parse_int("INFINITY")


# --------------------------------------------------------------------------- errors


def test_problem_rendering():
    p = Problem(
        "c.yaml", 12, "resources[2].meta.migration-threshold",
        "'abc' is not a valid integer", "expected an integer or INFINITY",
    )
    assert str(p) == (
        "c.yaml:12: at resources[2].meta.migration-threshold: 'abc' is not a valid integer; "
        "expected an integer or INFINITY"
    )
    w = Problem("c.yaml", 3, "constraints[0]", "unknown node", level="warning")
    assert str(w) == "c.yaml:3: warning: at constraints[0]: unknown node"


def test_config_error_carries_problems():
    p1 = Problem("a", 1, "x", "bad")
    p2 = Problem("a", 2, "y", "meh", level="warning")
    err = ConfigError([p1, p2])
    assert err.problems == [p1, p2]
    assert err.errors == [p1]
    assert err.warnings == [p2]
    assert str(err) == "a:1: at x: bad\na:2: warning: at y: meh"
    assert ConfigError("plain").problems[0].message == "plain"

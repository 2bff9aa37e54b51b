"""Durations, deadlines and timestamps (agent_agency_cli.timeutil)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import pytest

from agent_agency_cli.errors import EXIT_BAD_INPUT, BadInputError
from agent_agency_cli.timeutil import format_duration, iso, parse_deadline, parse_duration

# A fixed "now" keeps the deadline tests deterministic: 2025-06-15T12:00:00Z.
NOW = datetime(2025, 6, 15, 12, 0, 0, tzinfo=UTC).timestamp()


# -- parse_duration -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90", 90.0),
        (90, 90.0),
        (0, 0.0),
        (2.5, 2.5),
        ("1.5s", 1.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("2m30s", 150.0),
        ("1d2h3m4s", 86400 + 7200 + 180 + 4.0),
        ("250ms", 0.25),
        ("1s500ms", 1.5),
        ("  5m  ", 300.0),
        ("5 m", 300.0),
        ("0", 0.0),
    ],
)
def test_parse_duration_accepts(value: object, seconds: float) -> None:
    result = parse_duration(value)
    assert isinstance(result, float)
    assert result == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    ["", "   ", "abc", "-5", "-5s", "5x", "5 minutes", "m5", "1h30", "h", "1e3", "inf", "nan", "5s5", "1,5s"],
)
def test_parse_duration_rejects_bad_text(value: str) -> None:
    with pytest.raises(BadInputError) as info:
        parse_duration(value)
    msg = str(info.value)
    assert repr(value) in msg
    assert "30s, 5m, 2h, 1d" in msg  # tells the user what is accepted


@pytest.mark.parametrize("value", [True, False])
def test_parse_duration_rejects_booleans(value: bool) -> None:
    # YAML `timeout: yes` must not silently become 1 second.
    with pytest.raises(BadInputError, match=repr(value)):
        parse_duration(value)


@pytest.mark.parametrize("value", [-5, -0.5])
def test_parse_duration_rejects_negative_numbers(value: float) -> None:
    with pytest.raises(BadInputError, match="is negative"):
        parse_duration(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_parse_duration_rejects_non_finite_numbers(value: float) -> None:
    # YAML `.nan` / `.inf` would otherwise slip through every `> 0` check.
    with pytest.raises(BadInputError):
        parse_duration(value)


@pytest.mark.parametrize("value", [None, [5], {"s": 5}, b"5"])
def test_parse_duration_rejects_other_types(value: object) -> None:
    with pytest.raises(BadInputError):
        parse_duration(value)


def test_parse_duration_names_what_was_parsed() -> None:
    with pytest.raises(BadInputError, match=r"^bad timeout: 'soon'"):
        parse_duration("soon", "timeout")


def test_bad_duration_is_bad_input_exit_code() -> None:
    with pytest.raises(BadInputError) as info:
        parse_duration("abc")
    assert info.value.exit_code == EXIT_BAD_INPUT == 2


# -- format_duration ----------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0.0s"),
        (0.4, "0.4s"),
        (9.94, "9.9s"),
        (10, "10s"),
        (41.2, "41s"),
        (59.4, "59s"),
        (60, "1:00"),
        (102, "1:42"),
        (3599, "59:59"),
        (3600, "1:00:00"),
        (3723, "1:02:03"),
        (90061, "25:01:01"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_round_trips_with_parse_for_whole_minutes() -> None:
    assert format_duration(parse_duration("1h30m")) == "1:30:00"
    assert format_duration(parse_duration("5m")) == "5:00"


# -- parse_deadline -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "offset"),
    [("2h", 7200.0), ("30m", 1800.0), ("1d", 86400.0), ("90", 90.0), (" 1h30m ", 5400.0)],
)
def test_relative_deadline_is_added_to_now(value: str, offset: float) -> None:
    assert parse_deadline(value, now=NOW) == pytest.approx(NOW + offset)


def test_relative_deadline_defaults_to_the_clock() -> None:
    before = time.time()
    ts = parse_deadline("1h")
    after = time.time()
    assert before + 3600 <= ts <= after + 3600


def test_iso_date_means_end_of_that_day_utc() -> None:
    ts = parse_deadline("2025-06-20", now=NOW)
    assert ts == datetime(2025, 6, 20, 23, 59, 59, tzinfo=UTC).timestamp()
    assert iso(ts) == "2025-06-20T23:59:59.000Z"


def test_today_as_a_date_is_still_in_the_future() -> None:
    # NOW is noon; "today" means the end of today, which has not passed yet.
    assert parse_deadline("2025-06-15", now=NOW) > NOW


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-06-20T18:00:00Z", "2025-06-20T18:00:00.000Z"),
        ("2025-06-20T18:00:00+02:00", "2025-06-20T16:00:00.000Z"),
        ("2025-06-20T18:00:00-05:30", "2025-06-20T23:30:00.000Z"),
        ("2025-06-20T18:00:00.250Z", "2025-06-20T18:00:00.250Z"),
        ("2025-06-20 18:00", "2025-06-20T18:00:00.000Z"),  # naive means UTC
        ("2025-06-20T18:00", "2025-06-20T18:00:00.000Z"),
    ],
)
def test_iso_datetime_deadline(value: str, expected: str) -> None:
    assert iso(parse_deadline(value, now=NOW)) == expected


@pytest.mark.parametrize(
    "value",
    ["2025-06-14", "2025-06-15T11:59:59Z", "2000-01-01T00:00:00+00:00", "2025-06-15T13:00:00+02:00", "0", "0s"],
)
def test_deadline_in_the_past_is_rejected(value: str) -> None:
    with pytest.raises(BadInputError, match="in the past") as info:
        parse_deadline(value, now=NOW)
    assert repr(value) in str(info.value)


def test_past_deadline_message_shows_when_it_was() -> None:
    with pytest.raises(BadInputError, match=r"2025-06-14T23:59:59\.000Z"):
        parse_deadline("2025-06-14", now=NOW)


@pytest.mark.parametrize("value", ["tomorrow", "next tuesday", "2025-13-01", "2025-02-30", "2025/06/20", "", "5x"])
def test_garbage_deadline_gets_a_helpful_message(value: str) -> None:
    with pytest.raises(BadInputError) as info:
        parse_deadline(value, now=NOW)
    msg = str(info.value)
    assert f"bad deadline {value!r}" in msg
    assert "ISO-8601" in msg
    assert "2h" in msg  # mentions the relative form too


# -- iso ----------------------------------------------------------------------


def test_iso_none() -> None:
    assert iso(None) is None


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (NOW, "2025-06-15T12:00:00.000Z"),
        (NOW + 0.1234, "2025-06-15T12:00:00.123Z"),
    ],
)
def test_iso_is_utc_with_milliseconds_and_z(ts: float, text: str) -> None:
    assert iso(ts) == text


def test_iso_parses_back() -> None:
    text = iso(NOW + 1.5)
    assert text is not None
    assert datetime.fromisoformat(text).timestamp() == pytest.approx(NOW + 1.5)

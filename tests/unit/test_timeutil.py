"""Deadlines and timestamps (agent_agency_cli.timeutil); durations are in test_units.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from agent_agency_cli.errors import BadInputError
from agent_agency_cli.timeutil import iso, parse_deadline

# A fixed "now" keeps the deadline tests deterministic: 2025-06-15T12:00:00Z.
NOW = datetime(2025, 6, 15, 12, 0, 0, tzinfo=UTC).timestamp()


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

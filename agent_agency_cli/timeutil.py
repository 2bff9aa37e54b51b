"""Timestamps: deadlines parsed strictly, UTC ISO-8601 output. Durations live in `units`."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from agent_agency_cli.errors import BadInputError
from agent_agency_cli.units import parse_duration


def parse_deadline(value: str, now: float | None = None) -> float:
    """Epoch seconds from ISO-8601 (date or datetime) or a relative duration ("2h").

    A date alone means the end of that day (UTC). A deadline in the past is an error.
    """
    now = time.time() if now is None else now
    text = value.strip()
    ts: float | None = None
    try:
        ts = now + parse_duration(text, "deadline")
    except BadInputError:
        pass
    if ts is None:
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                day = datetime.fromisoformat(text).replace(tzinfo=UTC)
                ts = (day + timedelta(days=1, seconds=-1)).timestamp()
            else:
                dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
                if dt.tzinfo is None:
                    dt = dt.replace(tzinfo=UTC)
                ts = dt.timestamp()
        except ValueError:
            raise BadInputError(
                f"bad deadline {value!r}: use ISO-8601 (2026-12-31, 2026-12-31T18:00:00Z) "
                "or a relative time (30m, 2h, 1d)"
            ) from None
    if ts <= now:
        raise BadInputError(f"deadline {value!r} is in the past ({iso(ts)})")
    return ts


def iso(ts: float | None) -> str | None:
    """UTC ISO-8601 with milliseconds, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""Durations ("30s", "5m", "2h", "1d", plain seconds) and deadlines, parsed strictly."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta

from agent_agency_cli.errors import BadInputError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_COMPOUND_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds from a number or a string like "90", "1.5s", "5m", "2h", "1d", "1h30m"."""
    if isinstance(value, bool):
        raise BadInputError(f"bad {what}: {value!r} (use seconds or a unit: 30s, 5m, 2h, 1d)")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise BadInputError(f"bad {what}: {value!r} is not a finite number")
        if value < 0:
            raise BadInputError(f"bad {what}: {value!r} is negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2) or "s"]
        compact = value.replace(" ", "")
        parts = _COMPOUND_RE.findall(compact)
        if parts and "".join(n + u for n, u in parts) == compact:
            return sum(float(n) * _UNITS[u] for n, u in parts)
    raise BadInputError(f"bad {what}: {value!r} (use seconds or a unit: 30s, 5m, 2h, 1d)")


def format_duration(seconds: float | None) -> str:
    """Short human form: 0.4s, 41s, 1:42, 1:02:03."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


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

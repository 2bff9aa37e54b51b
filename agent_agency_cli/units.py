"""Units at the edge: sizes, durations and percentages, each parsed one way and formatted one way.

Sizes (`parse_size_mb`) are whole MiB. Units are binary whatever the spelling:
K = KB = KiB = 2**10 bytes, M = MB = MiB = 2**20, then G, T, P; a bare "B" means
bytes and a bare number means MiB. Fractions round *up* to whole MiB, so "512k"
and "0.5M" are 1 MiB. Only plain decimals are accepted ("1e3" is an error: YAML
and the shell both pass it as text, and a typo is likelier than intent).

Durations (`parse_duration`, the pydantic type `Duration`) are seconds (float):
a number, or "90", "1.5s", "500ms", "5m", "2h", "1d", "1w", "1h30m".

Percentages (`parse_percent`, the pydantic type `Percent`) are "80%" or a number.

All of them refuse booleans, negative numbers, `inf`, `NaN` and absurd
magnitudes (a 400-digit number) with one line naming the value, so nothing
downstream ever sees a value it cannot compute with.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, overload

from agent_agency_cli.errors import BadInputError

# -- counts -------------------------------------------------------------------

# Upper bounds for counts read from plans and the config: far above any machine,
# low enough that every sum and float() of them stays exact and finite.
MAX_CPU_CORES = 65536
MAX_GPUS = 1024
MAX_OPEN_FILES = 2**31 - 1


# -- sizes --------------------------------------------------------------------

MAX_SIZE_MB = 2**30  # 1 PiB: far above any machine, far below float trouble
SIZE_HINT = "use e.g. 512M, 2G, 1.5GiB or a number of MiB"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgtp]?)(i?)(b?)\s*$", re.IGNORECASE)
_SIZE_FACTOR_MB = {"k": 1 / 1024, "m": 1.0, "g": 1024.0, "t": 1024.0**2, "p": 1024.0**3}


@overload
def parse_size_mb(value: None, what: str = ..., *, minimum: int = ...) -> None: ...
@overload
def parse_size_mb(value: str | int | float, what: str = ..., *, minimum: int = ...) -> int: ...


def parse_size_mb(value: str | int | float | None, what: str = "size", *, minimum: int = 0) -> int | None:
    """Whole MiB from "512M", "2G", "1.5GiB", "100k", "1048576B", "1T" or a number of MiB.

    None -> None. Anything else that is not a size, or a size below `minimum` MiB
    or above MAX_SIZE_MB, raises BadInputError naming `what`.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadInputError(f"bad {what} {value!r} ({SIZE_HINT})")
    if isinstance(value, int | float):
        mb = _finite(value, what, SIZE_HINT)
    else:
        m = _SIZE_RE.match(value) if isinstance(value, str) else None
        if m is None:
            raise BadInputError(f"bad {what} {value!r} ({SIZE_HINT})")
        number, prefix, binary, unit_b = float(m.group(1)), m.group(2).lower(), m.group(3), m.group(4)
        if prefix:
            mb = number * _SIZE_FACTOR_MB[prefix]
        elif binary:  # "5i" / "5iB"
            raise BadInputError(f"bad {what} {value!r} ({SIZE_HINT})")
        elif unit_b:  # plain bytes
            mb = number / 2**20
        else:
            mb = number
    if mb < 0:
        raise BadInputError(f"bad {what} {value!r}: it is negative")
    if not math.isfinite(mb) or mb > MAX_SIZE_MB:
        raise BadInputError(f"{what} {_short_repr(value)} is too large (at most {format_size_mb(MAX_SIZE_MB)})")
    whole = math.ceil(mb - 1e-9)  # 1.5GiB is exactly 1536, not 1537 after float noise
    if whole < minimum:
        raise BadInputError(f"{what} {value!r} is below {format_size_mb(minimum)}")
    return whole


def format_size_mb(mb: float) -> str:
    """1536 -> "1.5 GiB", 512 -> "512 MiB", 2**20 -> "1 TiB"."""
    for unit, size in (("PiB", 1024.0**3), ("TiB", 1024.0**2), ("GiB", 1024.0)):
        if mb >= size:
            return f"{mb / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{mb:g} MiB"


def _finite(value: int | float, what: str, hint: str) -> float:
    """A float of `value`, or a BadInputError for inf, NaN and ints beyond floats."""
    try:
        number = float(value)
    except OverflowError:  # an int with hundreds of digits
        raise BadInputError(f"{what} {_short_repr(value)} is too large") from None
    if math.isnan(number):
        raise BadInputError(f"bad {what} {value!r}: not a number ({hint})")
    return number


MAX_CONCURRENCY = 10_000  # steps (or tasks) at once: far above any machine, a typo beyond
MAX_ROW_NUMBER = 2**63 - 1  # the largest SQLite INTEGER: counts and ids past it overflow


def bounded_int(value: int, what: str, low: int, high: int) -> int:
    """`value` if low <= value <= high, else BadInputError naming `what` and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadInputError(f"{what} must be a whole number from {low:,} to {high:,}, got {_short_repr(value)}")
    return value


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:10]}…{text[-4:]} ({len(text)} characters)"


short_repr = _short_repr  # for messages elsewhere: a 400-digit value shown short


# -- durations ----------------------------------------------------------------

MAX_DURATION = 100 * 366 * 86400.0  # a century: longer is a typo, and keeps epoch sums finite
DURATION_HINT = "use seconds or a unit: 30s, 5m, 2h, 1d"
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_COMPOUND_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds from a number or a string like "90", "1.5s", "5m", "2h", "1d", "1h30m".

    Raises BadInputError ("bad <what>: ...") for anything else, a negative number,
    inf, NaN, or more than MAX_DURATION (a century).
    """
    seconds: float | None = None
    if isinstance(value, bool):
        raise BadInputError(f"bad {what}: {value!r} ({DURATION_HINT})")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise BadInputError(f"bad {what}: {_short_repr(value)} is too large") from None
        if math.isnan(seconds) or math.isinf(seconds):
            raise BadInputError(f"bad {what}: {value!r} is not a finite number")
        if seconds < 0:
            raise BadInputError(f"bad {what}: {value!r} is negative")
    elif isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"]
        else:
            compact = value.replace(" ", "")
            parts = _COMPOUND_RE.findall(compact)
            if parts and "".join(n + u for n, u in parts) == compact:
                seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds is None:
        raise BadInputError(f"bad {what}: {_short_repr(value)} ({DURATION_HINT})")
    if not seconds <= MAX_DURATION:  # also catches inf from a 400-digit string
        raise BadInputError(f"bad {what}: {_short_repr(value)} is too large (at most 100 years)")
    return seconds


# `Duration`, the pydantic field type of every duration in the config, plan files and
# gates, is built on first use (module __getattr__ below) so that read commands, which
# only format and parse, do not import pydantic. Its error reads "bad duration: <value>
# (...)"; callers that name the key themselves strip that prefix (see planning.plan_file).


def format_duration(seconds: float | None, *, tenths: bool = True) -> str:
    """Clock form for tables and live displays: 0.4s, 41s, 1:42, 1:02:03, 3d4h; None -> "-".

    `tenths=False` shows whole seconds under ten too (ages and countdowns that
    tick once a second).
    """
    if seconds is None:
        return "-"
    seconds = abs(seconds)
    if seconds < 10 and tenths:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def describe_duration(seconds: float) -> str:
    """Word form for messages: 0.3s, 1.5s, 45s, 1m, 1m 30s, 1h 30m, 2d 3h (sign dropped).

    Under ten seconds, two significant digits; from ten on, the two largest
    non-zero units of the whole seconds.
    """
    s = abs(seconds)
    if s < 10:
        return f"{s:.2g}s" if s >= 0.01 else f"{s:g}s"
    rest = round(s)
    if rest < 60:
        return f"{rest}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    return " ".join(parts[:2])


# -- percentages ----------------------------------------------------------------


def parse_percent(value: object) -> float:
    """A percentage from "80%" or a number (80 -> 80.0); finite and not negative."""
    number: float | None = None
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            number = float(value.strip()[:-1])
        except ValueError:
            number = None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise BadInputError(f"bad percentage {_short_repr(value)}: too large") from None
    if number is None or math.isnan(number):
        raise BadInputError(f"bad percentage {_short_repr(value)} (use e.g. 80%)")
    if number < 0 or math.isinf(number):
        raise BadInputError(f"bad percentage {_short_repr(value)} (use a finite share, e.g. 80%)")
    return number


def _field_validator(parse: Any) -> Any:
    """A pydantic BeforeValidator body: our parser, its BadInputError as pydantic's ValueError."""

    def validate(value: Any) -> float:
        try:
            return parse(value)
        except BadInputError as exc:
            raise ValueError(str(exc)) from None

    return validate


# `Percent`: the pydantic field type of the config's thresholds ("80%" or 80); lazy too.
_FIELD_VALIDATORS = {"Duration": _field_validator(parse_duration), "Percent": _field_validator(parse_percent)}


def __getattr__(name: str) -> Any:
    if name in _FIELD_VALIDATORS:

        from pydantic import BeforeValidator  # lazy: keeps start-up light

        field = Annotated[float, BeforeValidator(_FIELD_VALIDATORS[name])]
        globals()[name] = field  # built once
        return field
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


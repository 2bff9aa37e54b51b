"""Pydantic validation errors in the words of the file a person wrote (plan or config).

Pydantic's locations carry its own internals (`run.str`, `run.list[str]` for the
members of a union) and its messages name Python types; people wrote YAML keys
and values. These helpers keep only the path that exists in the input and say
what is expected there.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from typing import Any

# Pydantic error types -> what a YAML author should write instead.
_EXPECTED = {
    "string_type": "text",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping of keys",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def yaml_value(value: Any, limit: int = 60) -> str:
    """A value as it reads in YAML (true, null, "text", [1, 2]), cut to `limit` characters."""
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def input_path(loc: Sequence[str | int], data: Any) -> tuple[str | int, ...]:
    """The part of a pydantic location that exists in the input (union member tags dropped)."""
    if data is None:  # no input at hand: drop what looks like a union member's tag
        return tuple(p for p in loc if isinstance(p, int) or not _internal(str(p)))
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            out.append(part)
        elif isinstance(node, dict | list):
            # A key pydantic names but the input lacks (a missing field): keep it, then stop.
            if not isinstance(part, int) and not _internal(str(part)):
                out.append(part)
            break
        # else: a union-member tag such as 'str' or 'list[str]' on a scalar: skip it
    return tuple(out)


def _internal(part: str) -> bool:
    return "[" in part or part in {"str", "int", "float", "bool", "dict", "list", "none"} or "-" in part


def dotted(path: Iterable[str | int]) -> str:
    """`task_execution.monitoring`, `workers.1.gpus` (list items by their index)."""
    return ".".join(str(p) for p in path)


def describe(errors: list[dict[str, Any]], data: Any) -> tuple[str, str]:
    """(dotted key path, what is wrong) for the first problem, with every union member's
    expectation merged ("text or a list") and the value that was given."""
    first = errors[0]
    path = input_path(first["loc"], data)
    same = [e for e in errors if input_path(e["loc"], data) == path] or [first]
    expected: list[str] = []
    for e in same:
        want = _expected_of(e)
        if want and want not in expected:
            expected.append(want)
    given = first.get("input")
    if expected and all(e["type"] in _EXPECTED or e["type"] in ("literal_error", "enum") for e in same):
        return dotted(path), f"expected {' or '.join(expected)}, got {yaml_value(given)}"
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    shown = yaml_value(given)
    return dotted(path), msg if shown.strip('"') in msg else f"{msg} (got {shown})"


def _expected_of(err: dict[str, Any]) -> str | None:
    if err["type"] in ("literal_error", "enum"):
        allowed = (err.get("ctx") or {}).get("expected", "")
        return f"one of {allowed}" if allowed else None
    return _EXPECTED.get(err["type"])


def did_you_mean(key: str, options: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a close option, else the list of allowed keys."""
    options = list(options)
    close = difflib.get_close_matches(key, options, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (allowed: {', '.join(options)})" if options else ""

"""A task modification in words people read: `priority normal → urgent, deadline
2026-11-30 18:00 UTC`, never stored internals (`priority_rank`, epoch floats, JSON
strings, Python dicts). Used by the modify message, the audit trail, `task events`
and the TUI's events pane alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Stored alongside a visible field, never shown: priority_rank mirrors priority.
HIDDEN = frozenset({"priority_rank"})
_LIMIT_WORDS = {"max_cpu": "cpu", "max_memory": "memory", "cpu": "cpu", "memory": "memory"}


def show_value(key: str, value: Any) -> str:
    """One field's value as a person writes it."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if key == "deadline" and isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if key == "deadline" and isinstance(value, str):
        # typed event payloads carry it as ISO-8601 ("2099-01-01T18:00:00.000Z")
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, str) and key in ("requirements", "limits") and value[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{_LIMIT_WORDS.get(k, k)} {show_value(k, v)}" for k, v in value.items()) or "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def describe_changes(new: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> str:
    """`priority normal → urgent, deadline - → 2026-11-30 18:00 UTC` (without old: the new values)."""
    parts = []
    for key in sorted(new):
        if key in HIDDEN:
            continue
        after = show_value(key, new[key])
        if old is not None:
            parts.append(f"{key} {show_value(key, old.get(key))} → {after}")
        else:
            parts.append(f"{key} {after}")
    return ", ".join(parts)

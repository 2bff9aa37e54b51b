"""What step templates read: a task's description and requirements, and the results of
its completed steps (from their step_completed events). Functions over a connection,
because the engine fills templates on its own connection."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any


def task_text(conn: sqlite3.Connection, task_id: str) -> tuple[str, str | None] | None:
    """(description, requirements JSON) of a task, or None when there is no such task."""
    row = conn.execute("SELECT description, requirements FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return (row[0], row[1]) if row else None


def completed_results(conn: sqlite3.Connection, task_id: str, steps: Sequence[str]) -> dict[str, Any]:
    """{step: result} of the named steps that completed (the latest completion wins)."""
    if not steps:
        return {}
    marks = ",".join("?" * len(steps))
    out: dict[str, Any] = {}
    for step, payload in conn.execute(
        f"SELECT step, payload FROM events WHERE task_id = ? AND kind = 'step_completed' "
        f"AND step IN ({marks}) ORDER BY id", (task_id, *steps),
    ):
        out[step] = json.loads(payload).get("result")
    return out

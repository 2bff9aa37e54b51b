"""Parts of one task's steps: counts per status, a page, the steps a person looks for.

`task status` on a task of 100,000 steps read and built every row (seconds) to show a
screenful. These queries let the status view read only what it shows: the counts
(one GROUP BY), a page of the table in plan order, or the notable steps (running,
waiting, failed, gate failed), each bounded by a LIMIT.
"""

from __future__ import annotations

import sqlite3
from typing import Any

# The steps a summary shows: what is happening now and what went wrong.
NOTABLE_STATUSES = ("running", "paused", "awaiting_approval", "waiting_resources", "failed", "interrupted")
_GATE_OK = ("passed", "skipped")


def status_counts(store: Any, task_id: str) -> dict[str, int]:
    """{step status: how many} of the task's steps."""
    rows = store.conn.execute(
        "SELECT status, COUNT(*) FROM steps WHERE task_id = ? GROUP BY status", (task_id,)).fetchall()
    return {r[0]: r[1] for r in rows}


def page(store: Any, task_id: str, offset: int, limit: int | None) -> list[sqlite3.Row]:
    """The steps in plan order from `offset`, at most `limit` of them (None: all)."""
    return store.conn.execute(
        "SELECT * FROM steps WHERE task_id = ? ORDER BY idx LIMIT ? OFFSET ?",
        (task_id, -1 if limit is None else limit, offset)).fetchall()


def _notable_rowids() -> str:
    # Two index searches joined by UNION: with an OR between them SQLite walks every row of the task.
    marks = ", ".join("?" * len(NOTABLE_STATUSES))
    return (f"SELECT rowid FROM steps INDEXED BY steps_by_status WHERE task_id = ? AND status IN ({marks}) "
            "UNION SELECT rowid FROM steps WHERE task_id = ? AND name IN ("
            "SELECT step FROM gate_results WHERE task_id = ? AND status NOT IN (?, ?))")


def _notable_params(task_id: str) -> tuple[Any, ...]:
    return (task_id, *NOTABLE_STATUSES, task_id, task_id, *_GATE_OK)


def notable(store: Any, task_id: str, limit: int) -> list[sqlite3.Row]:
    """Up to `limit` steps (plan order) that run, wait, failed, or have a gate that did not pass."""
    return store.conn.execute(
        f"SELECT * FROM steps WHERE rowid IN ({_notable_rowids()}) ORDER BY idx LIMIT ?",
        (*_notable_params(task_id), limit)).fetchall()


def notable_count(store: Any, task_id: str) -> int:
    """How many steps `notable` would return without its limit."""
    return store.conn.execute(f"SELECT COUNT(*) FROM ({_notable_rowids()})", _notable_params(task_id)).fetchone()[0]


def timing_rows(store: Any, task_id: str) -> list[sqlite3.Row]:
    """The columns the ETA needs, for every step (plan order); empty when no step has an estimate.

    The plan's estimated duration is the critical path over the steps' estimates, stored with
    them (intake and an edited plan replace both at once): 0 or null means no step has one,
    and the steps are not read (SQLite reads the one field out of a plan of any size)."""
    row = store.conn.execute("SELECT json_extract(plan, '$.estimated_duration') FROM tasks WHERE id = ?",
                             (task_id,)).fetchone()
    if not row or not row[0]:
        return []
    return store.conn.execute(
        "SELECT name, needs, status, estimate, started_at, paused_at, paused_total FROM steps "
        "WHERE task_id = ? ORDER BY idx", (task_id,)).fetchall()


def first_awaiting(store: Any, task_id: str) -> str | None:
    """The first step (plan order) awaiting approval, if any."""
    row = store.conn.execute(
        "SELECT name FROM steps INDEXED BY steps_by_status WHERE task_id = ? AND status = 'awaiting_approval' "
        "ORDER BY idx LIMIT 1",
        (task_id,)).fetchone()
    return row[0] if row else None

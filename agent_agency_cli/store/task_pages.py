"""Every task, newest first, read in pages: constant memory however big the store.

`task list --limit 0 --json` with 100,000 tasks built a list of every row and every
summary before writing a byte (400 MiB, issue 13). This reads keyset pages along the
`tasks_by_created` index — `(created_at, rowid)` below the last row seen — with the
step counts of each page, so a caller can write each task as it is read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

PAGE = 500
# What a task list's summary shows (orchestration/views.summary): not the plan, validation or
# risk documents, which made up most of each row's bytes.
SUMMARY_COLUMNS = ("id, description, status, owner, priority, mode, created_at, started_at, finished_at, "
                   "paused_at, paused_total, deadline, exit_code")


def iter_tasks(store: Any, statuses: Iterable[str] | None = None, page: int = PAGE
               ) -> Iterator[tuple[sqlite3.Row, dict[str, int]]]:
    """(task row, {step status: count}) for every task (of `statuses`), newest first; the row
    holds SUMMARY_COLUMNS."""
    statuses = list(statuses or [])
    where = f"status IN ({', '.join('?' * len(statuses))})" if statuses else "1"
    base = f"SELECT rowid AS _rowid, {SUMMARY_COLUMNS} FROM tasks WHERE {where}"
    order = " ORDER BY created_at DESC, rowid DESC LIMIT ?"
    rows = store.conn.execute(base + order, [*statuses, page]).fetchall()
    while rows:
        counts = store.step_counts([r["id"] for r in rows])
        for r in rows:
            yield r, counts[r["id"]]
        if len(rows) < page:
            return
        last = rows[-1]
        rows = store.conn.execute(
            # A row value: SQLite seeks the index to it. The equivalent `created_at < ? OR (created_at
            # = ? AND rowid < ?)` walked the index from the newest row again on every page.
            base + " AND (created_at, rowid) < (?, ?)" + order,
            [*statuses, last["created_at"], last["_rowid"], page],
        ).fetchall()

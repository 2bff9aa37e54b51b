"""Queries of the append-only events table (what watch, the TUI and the streams read)."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from agent_agency_cli.store.base import dumps


class EventQueries:
    """Mixin of Store: the events table."""

    def _event(
        self, task_id: str, step: str | None, kind: str, payload: dict[str, Any] | None, ts: float
    ) -> None:
        self.conn.execute(
            "INSERT INTO events (task_id, step, kind, payload, ts) VALUES (?, ?, ?, ?, ?)",
            (task_id, step, kind, dumps(self.redact(task_id, payload or {})), ts),
        )

    def add_event(
        self, task_id: str, kind: str, payload: dict[str, Any] | None = None, step: str | None = None
    ) -> None:
        """Append one event in its own transaction."""
        with self.tx():
            self._event(task_id, step, kind, payload, time.time())

    def events_after(
        self, task_id: str | None, after_id: int, limit: int = 1000
    ) -> list[sqlite3.Row]:
        if task_id is None:
            return self.conn.execute(
                "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
            ).fetchall()
        return self.conn.execute(
            "SELECT * FROM events WHERE task_id = ? AND id > ? ORDER BY id LIMIT ?",
            (task_id, after_id, limit),
        ).fetchall()

    def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none)."""
        return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    def last_event_step(self, task_id: str, kind: str) -> str | None:
        """The step of the task's newest `kind` event, if any."""
        row = self.conn.execute("SELECT step FROM events WHERE task_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
                                (task_id, kind)).fetchone()
        return row["step"] if row else None

    def last_event_payload(self, task_id: str, step: str, kind: str) -> dict[str, Any] | None:
        """The payload of the newest `kind` event of a step, if any."""
        row = self.conn.execute(
            "SELECT payload FROM events WHERE task_id = ? AND step = ? AND kind = ? "
            "ORDER BY id DESC LIMIT 1", (task_id, step, kind)).fetchone()
        return json.loads(row["payload"]) if row else None

    def group_approved_steps(self, task_id: str) -> set[str]:
        """The steps approved with their parallel group (`task approve --group`) since the
        task last started over (`task retry`): the step asked about and the others of its
        group. Read from the step_approved events, so an engine restart keeps the approval."""
        names: set[str] = set()
        for r in self.conn.execute(
            "SELECT step, payload FROM events WHERE task_id = ? AND kind = 'step_approved' AND id > "
            "(SELECT COALESCE(MAX(id), 0) FROM events WHERE task_id = ? AND kind = 'task_retried') "
            "AND payload LIKE '%\"group\"%' ORDER BY id", (task_id, task_id)):
            group = json.loads(r["payload"]).get("group")
            if isinstance(group, list) and group:
                names.update(str(n) for n in group)
                if r["step"]:
                    names.add(r["step"])
        return names

    def step_results(self, task_id: str) -> dict[str, Any]:
        """{step: result} from the steps' step_completed events (the last one wins)."""
        return {
            r["step"]: json.loads(r["payload"]).get("result")
            for r in self.conn.execute(
                "SELECT step, payload FROM events WHERE task_id = ? AND kind = 'step_completed' "
                "ORDER BY id", (task_id,))
        }

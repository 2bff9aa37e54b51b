"""Queries of the interventions table: requests from any process, answered by whoever applies them."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from agent_agency_cli.errors import NotFoundError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.store.base import dumps


class InterventionQueries:
    """Mixin of Store: the interventions table."""

    def add_intervention(
        self,
        task_id: str,
        kind: str,
        args: dict[str, Any],
        reason: str | None,
        who: str,
        pid: int,
    ) -> int:
        now = time.time()
        with self.tx() as conn:
            cur = conn.execute(
                "INSERT INTO interventions (task_id, kind, args, reason, who, pid, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (task_id, kind, dumps(self.redact(task_id, args)), self.redact(task_id, reason), who, pid, now),
            )
            self._event(
                task_id,
                args.get("step"),
                EventKind.INTERVENTION_REQUESTED,
                {"id": cur.lastrowid, "kind": kind, "args": args, "reason": reason, "who": who},
                now,
            )
            return int(cur.lastrowid or 0)

    def pending_interventions(self) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM interventions WHERE applied_at IS NULL ORDER BY id"
        ).fetchall()

    def finish_intervention(self, iid: int, task_id: str, outcome: str, message: str) -> None:
        now = time.time()
        with self.tx() as conn:
            conn.execute(
                "UPDATE interventions SET applied_at = ?, outcome = ?, message = ? WHERE id = ?",
                (now, outcome, self.redact(task_id, message), iid),
            )
            row = conn.execute("SELECT kind, who, reason FROM interventions WHERE id = ?", (iid,)).fetchone()
            self._event(
                task_id,
                None,
                f"intervention_{outcome}",
                {"id": iid, "kind": row["kind"], "who": row["who"], "reason": row["reason"],
                 "message": message},
                now,
            )

    def pending_intervention_ids(self, task_id: str) -> list[int]:
        """Ids of a task's interventions nobody has answered yet, oldest first."""
        return [r["id"] for r in self.conn.execute(
            "SELECT id FROM interventions WHERE task_id = ? AND applied_at IS NULL ORDER BY id", (task_id,))]

    def get_intervention(self, iid: int) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM interventions WHERE id = ?", (iid,)).fetchone()
        if row is None:
            raise NotFoundError(f"no intervention {iid}")
        return row

    def interventions_for(self, task_id: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM interventions WHERE task_id = ? ORDER BY id", (task_id,)
        ).fetchall()


"""Queries of the steps table: checked transitions (one at a time, several at once, or
batched for group commit), progress, counts."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent_agency_cli.errors import InvalidTransition, NotFoundError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import StepStatus, check_step_transition
from agent_agency_cli.store.base import CHECK_EVENTS, BatchLostError, check_event, dumps
from agent_agency_cli.store.db import begin_immediate

# A step about to try again (pending after `task retry` or a crash, awaiting approval of a
# new attempt) carries nothing of its previous attempt on its row: not its exit code, reason,
# times or progress. The attempt stays in step_attempts (`task status --verbose`: attempts).
FRESH_ATTEMPT: dict[str, Any] = {
    "exit_code": None, "reason": None, "started_at": None, "finished_at": None, "duration": None,
    "progress": None, "progress_message": None, "pid": None, "pgid": None, "paused_at": None,
    "paused_total": 0.0, "next_retry_at": None,
}
FRESH_ATTEMPT_SQL = ", ".join(f"{k} = {'NULL' if v is None else v}" for k, v in FRESH_ATTEMPT.items())

if TYPE_CHECKING:
    from agent_agency_cli.rows import StepRow


class StepQueries:
    """Mixin of Store: the steps table."""

    def get_steps(self, task_id: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM steps WHERE task_id = ? ORDER BY idx", (task_id,)
        ).fetchall()

    def step_rows(self, task_id: str) -> list[StepRow]:
        """A task's steps as typed rows, in plan order (StoredDataError on a damaged row)."""
        from agent_agency_cli.rows import StepRow  # pydantic: not on the fast CLI path
        return [StepRow.from_row(r) for r in self.get_steps(task_id)]

    def get_step(self, task_id: str, name: str) -> sqlite3.Row:
        row = self.conn.execute(
            "SELECT * FROM steps WHERE task_id = ? AND name = ?", (task_id, name)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"task {task_id} has no step named {name!r}")
        return row

    def set_step_status(
        self,
        task_id: str,
        step: str,
        old: StepStatus,
        new: StepStatus,
        *,
        event: str,
        payload: dict[str, Any] | None = None,
        also: Sequence[tuple[str, Sequence[Any]]] = (),
        batch: bool = False,
        **fields: Any,
    ) -> float:
        """Move a step old -> new (checked against the table and the row), with one event.

        `also`: further (sql, params) statements committed in the same transaction
        (the attempt's history row, its learned duration).

        `batch`: group commit. The change joins the batch transaction left open on this
        connection (opened if none) and is NOT committed on return: the caller must not
        act on it before commit_batch() (or any other write on this connection, which
        commits the batch first). A refused transition changes nothing and leaves the
        others in the batch intact; a statement that fails after it loses the whole batch.
        """
        check_step_transition(task_id, step, old, new)
        now = time.time()
        sets = "".join(f", {k} = ?" for k in fields)
        conn = self.conn
        if batch or self._in_unit:
            self.join_batch()
            # UPDATE (nothing changes when the transition check fails) then plain INSERTs:
            # no savepoint (two statements of the nine a step makes). Should an INSERT fail
            # after the UPDATE, the whole batch is rolled back and marked lost (see
            # commit_batch): fail-stop, the runner stops as if it had crashed.
            self._step_statements(conn, task_id, step, old, new, sets, fields, event,
                                  payload, also, now, on_partial=self._lose_batch)
            return now
        if conn.in_transaction:
            self.commit_batch()  # an open batch goes first
        begin_immediate(conn)
        try:
            self._step_statements(conn, task_id, step, old, new, sets, fields, event, payload,
                                  also, now)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return now

    @property
    def batch_open(self) -> bool:
        """A group-commit batch holds uncommitted changes on this connection."""
        return self.conn.in_transaction

    def commit_batch(self) -> None:
        """Commit the open group-commit batch, if any.

        Raises (now and on every later call) once a batch was lost, rolled back by a
        failed COMMIT or by SQLite itself: changes the engine already made in memory are
        not in the database, so nothing may act on them; the runner stops as if it had
        crashed and recovery takes over.
        """
        if self._batch_lost is not None:
            raise BatchLostError(f"a group-commit batch was lost: {self._batch_lost}")
        if self.conn.in_transaction:
            try:
                self.conn.execute("COMMIT")
            except BaseException as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                self._batch_lost = exc
                raise

    def _lose_batch(self, exc: BaseException) -> None:
        self._batch_lost = self._batch_lost or exc
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def _step_statements(self, conn: sqlite3.Connection, task_id: str, step: str,
                         old: StepStatus, new: StepStatus, sets: str, fields: dict[str, Any],
                         event: str, payload: dict[str, Any] | None,
                         also: Sequence[tuple[str, Sequence[Any]]], now: float,
                         on_partial: Any = None) -> None:
        event_payload = {"status": new.value, **(payload or {})}
        if CHECK_EVENTS:
            check_event(event, event_payload)
        event_json = dumps(self.redact(task_id, event_payload))
        fields = self._fields(task_id, fields)
        cur = conn.execute(
            f"UPDATE steps SET status = ?{sets} WHERE task_id = ? AND name = ? AND status = ?",
            (new.value, *fields.values(), task_id, step, old.value),
        )
        if cur.rowcount != 1:
            raise InvalidTransition(
                f"step {step!r} of task {task_id} is not {old}; it cannot become {new}"
            )
        try:
            conn.execute(
                "INSERT INTO events (task_id, step, kind, payload, ts) VALUES (?, ?, ?, ?, ?)",
                (task_id, step, event, event_json, now),
            )
            if also:
                mask = self.text_mask(task_id)
                for sql, params in also:
                    conn.execute(sql, [mask(p) if type(p) is str else self.redact(task_id, p)
                                       if isinstance(p, str) else p for p in params])
        except BaseException as exc:
            if on_partial is not None:
                on_partial(exc)
            raise

    def set_steps_status(
        self,
        task_id: str,
        names: Sequence[str],
        old_by_name: dict[str, StepStatus],
        new: StepStatus,
        *,
        event: str,
        payload: dict[str, Any] | None = None,
    ) -> float:
        """Move several steps to one status in one transaction (e.g. skip all dependents)."""
        now = time.time()
        for n in names:
            check_step_transition(task_id, n, old_by_name[n], new)
        with self.tx() as conn:
            for n in names:
                conn.execute(
                    "UPDATE steps SET status = ?, finished_at = COALESCE(finished_at, ?), "
                    "reason = COALESCE(?, reason) WHERE task_id = ? AND name = ? AND status = ?",
                    (new.value, now, self.redact(task_id, (payload or {}).get("reason")), task_id, n,
                     old_by_name[n].value),
                )
                self._event(task_id, n, event, {"status": new.value, **(payload or {})}, now)
        return now

    def update_step_fields(self, task_id: str, step: str, **fields: Any) -> None:
        """Non-status fields (pid, pgid, paused time) in a short transaction, no event."""
        with self.tx() as conn:
            conn.execute(
                f"UPDATE steps SET {', '.join(f'{k} = ?' for k in fields)} "
                "WHERE task_id = ? AND name = ?",
                (*fields.values(), task_id, step),
            )

    def set_step_progress(
        self, task_id: str, step: str, fraction: float, message: str | None
    ) -> None:
        now = time.time()
        with self.tx() as conn:
            conn.execute(
                "UPDATE steps SET progress = ?, progress_message = ? WHERE task_id = ? AND name = ?",
                (fraction, self.redact(task_id, message), task_id, step),
            )
            self._event(task_id, step, EventKind.STEP_PROGRESS, {"progress": fraction, "message": message}, now)

    def step_counts(self, task_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """{task_id: {status: count}} for the given tasks."""
        out: dict[str, dict[str, int]] = {t: {} for t in task_ids}
        if not task_ids:
            return out
        for chunk_start in range(0, len(task_ids), 500):
            chunk = task_ids[chunk_start : chunk_start + 500]
            rows = self.conn.execute(
                "SELECT task_id, status, COUNT(*) AS n FROM steps "
                f"WHERE task_id IN ({', '.join('?' * len(chunk))}) GROUP BY task_id, status",
                list(chunk),
            )
            for r in rows:
                out[r["task_id"]][r["status"]] = r["n"]
        return out

    def active_steps_with_workers(self) -> list[sqlite3.Row]:
        """Running or paused steps placed on a worker, with their task's complexity."""
        return self.conn.execute(
            "SELECT s.task_id, s.name, s.spec, s.worker, t.complexity FROM steps s JOIN tasks t "
            "ON t.id = s.task_id WHERE s.status IN ('running', 'paused') AND s.worker IS NOT NULL"
        ).fetchall()

    def replace_steps(self, task_id: str, plan: dict[str, Any], steps: Sequence[dict[str, Any]]) -> None:
        """Replace a task's steps (all pending again) and its plan, atomically (an edited plan)."""
        with self.tx() as conn:
            conn.execute("DELETE FROM steps WHERE task_id = ?", (task_id,))
            conn.executemany(
                "INSERT INTO steps (task_id, name, idx, status, kind, spec, needs, estimate, timeout, idempotent, "
                "max_attempts, signature) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                [(task_id, s["name"], i, s["kind"], json.dumps(s["spec"]), json.dumps(s["needs"]), s.get("estimate"),
                  s.get("timeout"), int(bool(s.get("idempotent"))), s.get("max_attempts", 1), s.get("signature"))
                 for i, s in enumerate(steps)])
            conn.execute("UPDATE tasks SET plan = ? WHERE id = ?", (json.dumps(plan), task_id))

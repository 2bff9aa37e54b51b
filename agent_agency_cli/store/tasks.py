"""Queries of the tasks table: insert, resolve, list, move (checked transitions), claim, requeue."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from agent_agency_cli.errors import ConflictError, InvalidTransition, NotFoundError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import HELD_OWNER, RESERVED_PREFIX, TaskStatus, check_task_transition
from agent_agency_cli.store.base import dumps
from agent_agency_cli.store.steps import FRESH_ATTEMPT_SQL
from agent_agency_cli.units import format_duration

if TYPE_CHECKING:
    from agent_agency_cli.rows import TaskRow


def ambiguous_message(prefix: str, rows: Sequence[sqlite3.Row], now: float) -> str:
    """One line: what is wrong, how to fix it, and each candidate with its status (`held`
    for a held task), age and description, so that a person can pick the right one."""
    more = ", …" if len(rows) > 5 else ""
    shown = []
    for r in rows[:5]:
        status = "held" if r["status"] == "queued" and r["owner"] == HELD_OWNER else r["status"]
        desc = "".join(c for c in " ".join((r["description"] or "").split()) if c.isprintable())
        desc = desc if len(desc) <= 30 else desc[:29] + "…"
        shown.append(f"{r['id']} ({status}, {format_duration(now - r['created_at'], tenths=False)} ago, {desc})")
    return f"task id {prefix!r} is ambiguous, type more of it: {'; '.join(shown)}{more}"


# A task an engine may take: queued, not a dry run, not reserved (held, foreground).
_CLAIMABLE = f"status = 'queued' AND mode != 'dry-run' AND (owner IS NULL OR owner NOT LIKE '{RESERVED_PREFIX}%')"


class TaskQueries:
    """Mixin of Store: the tasks table (each change with its event)."""

    def insert_task(self, task: dict[str, Any], steps: Sequence[dict[str, Any]],
                    review: dict[str, Any] | None = None, shown_description: str | None = None,
                    request_id: str | None = None) -> None:
        """Store a new task with its steps, its initial council review and its creation
        event, atomically. `shown_description` is what the event says (secrets masked).
        `request_id` (the caller's id of this submission) is stored with it: a second insert
        with the same one raises sqlite3.IntegrityError (see task_for_request)."""
        now = task["created_at"]
        task = self._fields(task["id"], task)
        with self.tx() as conn:
            cols = ", ".join(task)
            conn.execute(
                f"INSERT INTO tasks ({cols}) VALUES ({', '.join('?' * len(task))})",
                [dumps(v) if isinstance(v, list | dict) else v for v in task.values()],
            )
            conn.executemany(
                "INSERT INTO steps (task_id, name, idx, status, kind, spec, needs, estimate, "
                "timeout, idempotent, max_attempts, signature) "
                "VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        task["id"],
                        s["name"],
                        i,
                        s["kind"],
                        dumps(self.redact(task["id"], s["spec"])),
                        dumps(s["needs"]),
                        s.get("estimate"),
                        s.get("timeout"),
                        int(bool(s.get("idempotent"))),
                        s.get("max_attempts", 1),
                        s.get("signature"),
                    )
                    for i, s in enumerate(steps)
                ],
            )
            if request_id is not None:
                conn.execute("INSERT INTO submit_requests (request_id, task_id) VALUES (?, ?)",
                             (request_id, task["id"]))
            if review is not None:
                conn.execute(
                    "INSERT INTO reviews (task_id, phase, kind, verdict, data, created_at) "
                    "VALUES (?, 'initial', 'council', ?, ?, ?)",
                    (task["id"], str(review.get("overall_verdict")), dumps(self.redact(task["id"], review)), now),
                )
            self._event(
                task["id"],
                None,
                EventKind.TASK_CREATED,
                {
                    "description": shown_description or task["description"],
                    "mode": task["mode"],
                    "priority": task["priority"],
                    "steps": len(steps),
                    "status": task["status"],
                },
                now,
            )

    def task_for_request(self, request_id: str) -> str | None:
        """The id of the task stored for a caller's submission id, if one was."""
        row = self.conn.execute("SELECT task_id FROM submit_requests WHERE request_id = ?",
                                (request_id,)).fetchone()
        return row[0] if row else None

    def resolve_id(self, prefix: str) -> str:
        """The full id for an unambiguous prefix; NotFoundError lists candidates otherwise."""
        prefix = prefix.strip().lower()
        if not prefix:
            raise NotFoundError("empty task id")
        rows = self.conn.execute(
            "SELECT id, description, status, owner, created_at FROM tasks WHERE id >= ? AND id < ? "
            "ORDER BY id LIMIT 6",
            (prefix, prefix + "\U0010ffff"),
        ).fetchall()
        if not rows:
            raise NotFoundError(f"no task with id {prefix!r} (see: agent-agency-cli task list)")
        for r in rows:
            if r["id"] == prefix:
                return prefix
        if len(rows) > 1:
            raise NotFoundError(ambiguous_message(prefix, rows, time.time()))
        return rows[0]["id"]

    def get_task(self, task_id: str) -> sqlite3.Row:
        row = self.conn.execute(
            "SELECT * FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no task with id {task_id!r}")
        return row

    def task_row(self, task_id: str) -> TaskRow:
        """A task as a typed row (NotFoundError, StoredDataError on a damaged row)."""
        from agent_agency_cli.rows import TaskRow  # pydantic: not on the fast CLI path
        return TaskRow.from_row(self.get_task(task_id))

    def list_tasks(
        self, statuses: Iterable[str] | None = None, limit: int | None = None
    ) -> list[sqlite3.Row]:
        sql = "SELECT * FROM tasks"
        params: list[Any] = []
        statuses = list(statuses or [])
        if statuses:
            sql += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            params += statuses
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return self.conn.execute(sql, params).fetchall()

    def set_task_status(
        self,
        task_id: str,
        old: TaskStatus,
        new: TaskStatus,
        *,
        event: str,
        payload: dict[str, Any] | None = None,
        **fields: Any,
    ) -> float:
        """Move a task old -> new (checked against the table and the row), with one event."""
        check_task_transition(task_id, old, new)
        now = time.time()
        fields = self._fields(task_id, fields)
        fields["updated_at"] = now
        sets = "".join(f", {k} = ?" for k in fields)
        with self.tx() as conn:
            cur = conn.execute(
                f"UPDATE tasks SET status = ?{sets} WHERE id = ? AND status = ?",
                (new.value, *fields.values(), task_id, old.value),
            )
            if cur.rowcount != 1:
                actual = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
                raise InvalidTransition(
                    f"task {task_id} is {actual[0] if actual else 'gone'}, not {old}; "
                    f"it cannot become {new}"
                )
            self._event(task_id, None, event, {"status": new.value, **(payload or {})}, now)
        return now

    def update_task_fields(
        self, task_id: str, *, event: str, payload: dict[str, Any], **fields: Any
    ) -> None:
        """Change non-status fields of a task (e.g. a modification), with one event."""
        now = time.time()
        fields = self._fields(task_id, fields)
        fields["updated_at"] = now
        with self.tx() as conn:
            conn.execute(
                f"UPDATE tasks SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                (*[dumps(v) if isinstance(v, list | dict) else v for v in fields.values()], task_id),
            )
            self._event(task_id, None, event, payload, now)

    def has_claimable_task(self) -> bool:
        """Whether some queued task waits for an engine to claim it."""
        return self.conn.execute(f"SELECT 1 FROM tasks WHERE {_CLAIMABLE} LIMIT 1").fetchone() is not None

    def claim_next_task(self, owner: str, *, batch: bool = False) -> sqlite3.Row | None:
        """Atomically take the best queued task (priority, then age) for this engine; its
        row as it is now, or None when nothing is queued.

        The candidate is looked up before the write lock is taken, so an empty queue (the
        daemon asks after every change) costs no write transaction. With `batch`, the
        claim joins the open group-commit batch and is NOT committed on return: the engine
        commits it with the task's first step start (one commit for both, issue 13), and
        acts on neither before that commit."""
        while True:
            row = self.conn.execute(
                f"SELECT id FROM tasks WHERE {_CLAIMABLE} "
                "ORDER BY priority_rank DESC, created_at ASC, rowid ASC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            if batch:
                claimed = self._claim_row(self.join_batch(), row["id"], owner, fail_stop=True)
            else:
                with self.tx() as conn:
                    claimed = self._claim_row(conn, row["id"], owner)
            if claimed is not None:
                return claimed
            # taken (or reserved) by someone else between the look-up and the lock: next one

    def _claim_row(self, conn: sqlite3.Connection, task_id: str, owner: str,
                   fail_stop: bool = False) -> sqlite3.Row | None:
        now = time.time()
        rows = conn.execute(
            "UPDATE tasks SET status = 'running', owner = ?, started_at = COALESCE(started_at, ?), "
            f"updated_at = ? WHERE id = ? AND {_CLAIMABLE} RETURNING *",
            (owner, now, now, task_id),
        ).fetchall()
        if not rows:
            return None
        try:
            self._event(task_id, None, EventKind.TASK_STARTED, {"status": "running", "owner": owner}, now)
        except BaseException as exc:
            if fail_stop:  # the UPDATE is in the batch without its event: nothing may commit it
                self._lose_batch(exc)  # type: ignore[attr-defined]
            raise
        return rows[0]

    def release_task(self, task_id: str) -> bool:
        """Drop a queued task's reservation (held, or kept for a foreground run) so that an
        engine may claim it; False when it was not a reserved queued task."""
        now = time.time()
        with self.tx() as conn:
            cur = conn.execute(
                "UPDATE tasks SET owner = NULL, updated_at = ? WHERE id = ? AND status = 'queued' "
                f"AND owner LIKE '{RESERVED_PREFIX}%'", (now, task_id))
            if cur.rowcount == 1:
                self._event(task_id, None, EventKind.TASK_RELEASED, {"status": "queued"}, now)
        return cur.rowcount == 1

    def claim_task(self, task_id: str, owner: str) -> sqlite3.Row:
        """Take one specific queued task (foreground runs)."""
        now = time.time()
        with self.tx() as conn:
            cur = conn.execute(
                "UPDATE tasks SET status = 'running', owner = ?, started_at = COALESCE(started_at, ?), "
                "updated_at = ? WHERE id = ? AND status = 'queued'",
                (owner, now, now, task_id),
            )
            if cur.rowcount != 1:
                raise ConflictError(f"task {task_id} is not queued; it cannot be started here")
            self._event(task_id, None, EventKind.TASK_STARTED, {"status": "running", "owner": owner}, now)
        return self.get_task(task_id)

    def tasks_owned_elsewhere(self, statuses: Iterable[str], not_owner: str) -> list[sqlite3.Row]:
        statuses = list(statuses)
        return self.conn.execute(
            f"SELECT * FROM tasks WHERE status IN ({', '.join('?' * len(statuses))}) "
            "AND (owner IS NULL OR owner != ?)",
            (*statuses, not_owner),
        ).fetchall()

    def tasks_owned_by(self, owner: str) -> list[str]:
        """Ids of the tasks an engine holds, oldest start first."""
        return [r["id"] for r in self.conn.execute(
            "SELECT id FROM tasks WHERE owner = ? ORDER BY started_at", (owner,))]

    def finished_unarchived(self, before: float) -> list[dict[str, Any]]:
        """Tasks finished before `before` and not archived yet (id, status, finished_at, archived_at)."""
        return [dict(r) for r in self.conn.execute(
            "SELECT id, status, finished_at, archived_at FROM tasks WHERE archived_at IS NULL "
            "AND finished_at < ?", (before,))]

    def requeue_task(self, task_id: str, old: TaskStatus, who: str) -> int:
        """`task retry`: queue a finished task again, its unfinished steps pending (overridden
        ones stay as a person left them), with one task_retried event. Returns how many
        steps were reset; ConflictError if the task is no longer `old`."""
        now = time.time()
        with self.tx() as conn:
            cur = conn.execute(
                "UPDATE tasks SET status = 'queued', finished_at = NULL, exit_code = NULL, "
                "reason = NULL, failed_step = NULL, owner = NULL, updated_at = ? "
                "WHERE id = ? AND status = ?", (now, task_id, old.value))
            if cur.rowcount != 1:
                raise ConflictError(f"task {task_id} changed state; try again")
            reset = conn.execute(
                "UPDATE steps SET status = 'pending', max_attempts = MAX(max_attempts, attempt + 1), "
                f"{FRESH_ATTEMPT_SQL} WHERE task_id = ? AND status IN "
                "('failed', 'cancelled', 'interrupted', 'skipped') AND overridden = 0",
                (task_id,)).rowcount
            self._event(task_id, None, EventKind.TASK_RETRIED,
                        {"status": "queued", "steps_reset": reset, "who": who}, now)
        return reset

"""The Store: SQL for tasks, steps, events, interventions, attempts, metric samples,
gate results and reviews. Each state change is one transaction that updates its
row and appends an event. (Retention of archived history is in store/retention.py.)"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from agent_agency_cli.errors import ConflictError, InvalidTransition, NotFoundError
from agent_agency_cli.models import (
    StepStatus,
    TaskStatus,
    check_step_transition,
    check_task_transition,
)
from agent_agency_cli.store.db import begin_immediate, write_tx

_TASK_COLUMNS = "*"


class BatchLostError(RuntimeError):
    """A group-commit batch could not be committed (see Store.commit_batch)."""


def _keep(task_id: str | None, value: Any) -> Any:
    return value


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


class Store:
    """Data access for tasks, steps, events and interventions on one connection."""

    def __init__(self, conn: sqlite3.Connection, vault: Any = None):
        self.conn = conn
        self._batch_lost: BaseException | None = None  # see commit_batch
        # The task secrets' keeper (security.vault.Vault): every text a writer below
        # stores passes its `redact(task_id, value)`, so no secret reaches a row in clear.
        self.vault = vault
        self.redact: Callable[[str | None, Any], Any] = vault.redact if vault is not None else _keep

    def _fields(self, task_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in fields.items():
            if isinstance(v, str) and v[:1] in ("{", "["):
                try:  # JSON text: mask the values, not the text (a mask must not cut an escape)
                    out[k] = _dumps(self.redact(task_id, json.loads(v)))
                    continue
                except ValueError:
                    pass
            out[k] = self.redact(task_id, v) if isinstance(v, str | dict | list) else v
        return out

    # -- transactions ---------------------------------------------------------

    def tx(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction (see db.write_tx); an open group-commit batch commits first."""
        if self.conn.in_transaction:
            self.commit_batch()
        return write_tx(self.conn)

    def home(self) -> Path:
        """The data home this store's database lives in."""
        row = self.conn.execute("PRAGMA database_list").fetchone()
        return Path(row["file"]).parent

    def data_version(self) -> int:
        """Changes whenever another connection commits: a near-free "anything new?" check."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def _event(
        self, task_id: str, step: str | None, kind: str, payload: dict[str, Any] | None, ts: float
    ) -> None:
        self.conn.execute(
            "INSERT INTO events (task_id, step, kind, payload, ts) VALUES (?, ?, ?, ?, ?)",
            (task_id, step, kind, _dumps(self.redact(task_id, payload or {})), ts),
        )

    def add_event(
        self, task_id: str, kind: str, payload: dict[str, Any] | None = None, step: str | None = None
    ) -> None:
        """Append one event in its own transaction."""
        with self.tx():
            self._event(task_id, step, kind, payload, time.time())

    # -- tasks ----------------------------------------------------------------

    def insert_task(self, task: dict[str, Any], steps: Sequence[dict[str, Any]],
                    review: dict[str, Any] | None = None, shown_description: str | None = None) -> None:
        """Store a new task with its steps, its initial council review and its creation
        event, atomically. `shown_description` is what the event says (secrets masked)."""
        now = task["created_at"]
        task = self._fields(task["id"], task)
        with self.tx() as conn:
            cols = ", ".join(task)
            conn.execute(
                f"INSERT INTO tasks ({cols}) VALUES ({', '.join('?' * len(task))})",
                [_dumps(v) if isinstance(v, list | dict) else v for v in task.values()],
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
                        _dumps(self.redact(task["id"], s["spec"])),
                        _dumps(s["needs"]),
                        s.get("estimate"),
                        s.get("timeout"),
                        int(bool(s.get("idempotent"))),
                        s.get("max_attempts", 1),
                        s.get("signature"),
                    )
                    for i, s in enumerate(steps)
                ],
            )
            if review is not None:
                conn.execute(
                    "INSERT INTO reviews (task_id, phase, kind, verdict, data, created_at) "
                    "VALUES (?, 'initial', 'council', ?, ?, ?)",
                    (task["id"], str(review.get("overall_verdict")), _dumps(self.redact(task["id"], review)), now),
                )
            self._event(
                task["id"],
                None,
                "task_created",
                {
                    "description": shown_description or task["description"],
                    "mode": task["mode"],
                    "priority": task["priority"],
                    "steps": len(steps),
                    "status": task["status"],
                },
                now,
            )

    def resolve_id(self, prefix: str) -> str:
        """The full id for an unambiguous prefix; NotFoundError lists candidates otherwise."""
        prefix = prefix.strip().lower()
        if not prefix:
            raise NotFoundError("empty task id")
        rows = self.conn.execute(
            "SELECT id, description FROM tasks WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
            (prefix, prefix + "\U0010ffff"),
        ).fetchall()
        if not rows:
            raise NotFoundError(f"no task with id {prefix!r} (see: agent-agency-cli task list)")
        for r in rows:
            if r["id"] == prefix:
                return prefix
        if len(rows) > 1:
            shown = ", ".join(f"{r['id']} ({r['description'][:30]})" for r in rows[:5])
            more = " …" if len(rows) > 5 else ""
            raise NotFoundError(f"task id {prefix!r} is ambiguous: {shown}{more}")
        return rows[0]["id"]

    def get_task(self, task_id: str) -> sqlite3.Row:
        row = self.conn.execute(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no task with id {task_id!r}")
        return row

    def list_tasks(
        self, statuses: Iterable[str] | None = None, limit: int | None = None
    ) -> list[sqlite3.Row]:
        sql = f"SELECT {_TASK_COLUMNS} FROM tasks"
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
                (*[_dumps(v) if isinstance(v, list | dict) else v for v in fields.values()], task_id),
            )
            self._event(task_id, None, event, payload, now)

    def claim_next_task(self, owner: str) -> sqlite3.Row | None:
        """Atomically take the best queued task (priority, then age) for this engine."""
        now = time.time()
        with self.tx() as conn:
            row = conn.execute(
                "SELECT id, started_at FROM tasks WHERE status = 'queued' AND mode != 'dry-run' "
                "ORDER BY priority_rank DESC, created_at ASC, rowid ASC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE tasks SET status = 'running', owner = ?, started_at = COALESCE(started_at, ?), "
                "updated_at = ? WHERE id = ?",
                (owner, now, now, row["id"]),
            )
            self._event(row["id"], None, "task_started", {"status": "running", "owner": owner}, now)
        return self.get_task(row["id"])

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
            self._event(task_id, None, "task_started", {"status": "running", "owner": owner}, now)
        return self.get_task(task_id)

    def tasks_owned_elsewhere(self, statuses: Iterable[str], not_owner: str) -> list[sqlite3.Row]:
        statuses = list(statuses)
        return self.conn.execute(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE status IN ({', '.join('?' * len(statuses))}) "
            "AND (owner IS NULL OR owner != ?)",
            (*statuses, not_owner),
        ).fetchall()

    # -- steps ----------------------------------------------------------------

    def get_steps(self, task_id: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM steps WHERE task_id = ? ORDER BY idx", (task_id,)
        ).fetchall()

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
        commits the batch first). A savepoint keeps the change all-or-nothing within
        the batch, so a failed transition leaves the others in it intact.
        """
        check_step_transition(task_id, step, old, new)
        now = time.time()
        sets = "".join(f", {k} = ?" for k in fields)
        conn = self.conn
        if batch:
            if self._batch_lost is not None:
                raise BatchLostError(f"a group-commit batch was lost: {self._batch_lost}")
            if not conn.in_transaction:
                begin_immediate(conn)
            if not also:
                # UPDATE (nothing changes when the transition check fails) then one plain
                # INSERT: no savepoint. Should the INSERT fail after the UPDATE, the whole
                # batch is rolled back and marked lost (see commit_batch): fail-stop.
                self._step_statements(conn, task_id, step, old, new, sets, fields, event,
                                      payload, also, now, on_partial=self._lose_batch)
                return now
            conn.execute("SAVEPOINT step_tx")
            try:
                self._step_statements(conn, task_id, step, old, new, sets, fields, event,
                                      payload, also, now)
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO step_tx")
                    conn.execute("RELEASE step_tx")
                else:  # SQLite rolled back the whole batch (I/O error, disk full)
                    self._batch_lost = self._batch_lost or exc
                raise
            conn.execute("RELEASE step_tx")
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
        event_json = _dumps(self.redact(task_id, {"status": new.value, **(payload or {})}))
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
            for sql, params in also:
                conn.execute(sql, [self.redact(task_id, p) if isinstance(p, str) else p for p in params])
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
            self._event(task_id, step, "step_progress", {"progress": fraction, "message": message}, now)

    # -- events ---------------------------------------------------------------

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

    # -- interventions --------------------------------------------------------

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
                (task_id, kind, _dumps(self.redact(task_id, args)), self.redact(task_id, reason), who, pid, now),
            )
            self._event(
                task_id,
                args.get("step"),
                "intervention_requested",
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

    def get_intervention(self, iid: int) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM interventions WHERE id = ?", (iid,)).fetchone()
        if row is None:
            raise NotFoundError(f"no intervention {iid}")
        return row

    def interventions_for(self, task_id: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM interventions WHERE task_id = ? ORDER BY id", (task_id,)
        ).fetchall()

    # -- attempts, metrics, learned durations ----------------------------------

    @staticmethod
    def attempt_row(task_id: str, step: str, attempt: int, outcome: Any, started_at: float | None,
                    finished_at: float, duration: float | None, worker: str | None
                    ) -> tuple[str, tuple[Any, ...]]:
        """The statement recording one attempt, with its error (for set_step_status's `also`)."""
        status = "completed" if outcome.ok else (outcome.extra.get("stopped") or "failed")
        return (
            "INSERT OR REPLACE INTO step_attempts (task_id, step, attempt, status, worker, "
            "started_at, finished_at, duration, exit_code, reason) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (task_id, step, attempt, status, worker, started_at, finished_at, duration,
             outcome.exit_code, outcome.reason),
        )

    @staticmethod
    def duration_row(signature: str, duration: float) -> tuple[str, tuple[Any, ...]]:
        """The statement remembering a finished step's duration for later estimates."""
        return ("INSERT INTO durations (signature, duration, finished_at) VALUES (?, ?, ?)",
                (signature, duration, time.time()))

    def attempts(self, task_id: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM step_attempts WHERE task_id = ? ORDER BY step, attempt", (task_id,)
        ).fetchall()

    def add_metric_sample(self, task_id: str, step: str, attempt: int, sample: Any) -> None:
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO step_metrics (task_id, step, attempt, ts, cpu_percent, rss_bytes, "
                "read_bytes, write_bytes, threads, gpu_memory_bytes, gpu_util_percent) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (task_id, step, attempt, sample.ts, sample.cpu_percent, sample.rss_bytes,
                 sample.read_bytes, sample.write_bytes, sample.threads,
                 getattr(sample, "gpu_memory_bytes", None), getattr(sample, "gpu_util_percent", None)),
            )

    def metric_samples(self, task_id: str, step: str | None = None) -> list[sqlite3.Row]:
        if step is None:
            return self.conn.execute(
                "SELECT * FROM step_metrics WHERE task_id = ? ORDER BY step, attempt, ts", (task_id,)
            ).fetchall()
        return self.conn.execute(
            "SELECT * FROM step_metrics WHERE task_id = ? AND step = ? ORDER BY attempt, ts",
            (task_id, step),
        ).fetchall()

    def learned_durations(self, signatures: Sequence[str], last: int = 10) -> dict[str, tuple[float, int]]:
        """{signature: (mean of the last `last` durations, how many runs)}."""
        out: dict[str, tuple[float, int]] = {}
        for sig in set(signatures):
            rows = self.conn.execute(
                "SELECT duration FROM durations WHERE signature = ? ORDER BY finished_at DESC LIMIT ?",
                (sig, last),
            ).fetchall()
            if rows:
                out[sig] = (sum(r[0] for r in rows) / len(rows), len(rows))
        return out

    # -- gates and reviews ----------------------------------------------------

    def add_gate_result(self, task_id: str, step: str, attempt: int, result: dict[str, Any],
                        started_at: float, finished_at: float) -> None:
        result = self.redact(task_id, result)
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO gate_results (task_id, step, attempt, gate, required, status, score, "
                "violations, recommendations, evidence, details, started_at, finished_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (task_id, step, attempt, result.get("name") or result["gate"],
                 int(bool(result.get("required", True))), result["status"], result.get("score"),
                 _dumps(result.get("violations", [])), _dumps(result.get("recommendations", [])),
                 _dumps(result.get("evidence", [])),
                 _dumps({**result.get("details", {}), "type": result["gate"]}),
                 started_at, finished_at),
            )
            self._event(task_id, step, "gate_result",
                        {"gate": result.get("name") or result["gate"], "type": result["gate"],
                         "status": result["status"], "score": result.get("score"),
                         "required": result.get("required", True),
                         "violations": result.get("violations", [])[:5]}, finished_at)

    def gate_results(self, task_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT * FROM gate_results WHERE task_id = ? ORDER BY id", (task_id,)
        ).fetchall()
        out = []
        for r in rows:
            details = json.loads(r["details"])
            out.append({
                "step": r["step"], "attempt": r["attempt"], "gate": details.pop("type", r["gate"]),
                "name": r["gate"], "required": bool(r["required"]), "status": r["status"],
                "score": r["score"], "violations": json.loads(r["violations"]),
                "recommendations": json.loads(r["recommendations"]),
                "evidence": json.loads(r["evidence"]), "details": details,
                "started_at": r["started_at"], "finished_at": r["finished_at"],
            })
        return out

    def add_review(self, task_id: str, *, phase: str, kind: str, verdict: str,
                   data: dict[str, Any], reviewer: str | None = None, reason: str | None = None) -> None:
        now = time.time()
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO reviews (task_id, phase, kind, verdict, data, reviewer, reason, created_at) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (task_id, phase, kind, verdict, _dumps(self.redact(task_id, data)), reviewer,
                 self.redact(task_id, reason), now),
            )
            self._event(task_id, None, "review_recorded",
                        {"phase": phase, "kind": kind, "verdict": verdict, "reviewer": reviewer,
                         "reason": reason}, now)

    def reviews(self, task_id: str) -> list[dict[str, Any]]:
        return [
            {"phase": r["phase"], "kind": r["kind"], "verdict": r["verdict"],
             "data": json.loads(r["data"]), "reviewer": r["reviewer"], "reason": r["reason"],
             "created_at": r["created_at"]}
            for r in self.conn.execute("SELECT * FROM reviews WHERE task_id = ? ORDER BY id", (task_id,))
        ]

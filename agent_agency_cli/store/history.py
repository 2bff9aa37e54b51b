"""Queries of what a task leaves behind: attempts, metric samples, learned durations,
gate results and council reviews."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.store.base import dumps


class HistoryQueries:
    """Mixin of Store: attempts, metric_samples, step_durations, gate_results, reviews."""

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
    def interrupted_attempt_row(task_id: str, step: sqlite3.Row, finished_at: float, reason: str
                                ) -> tuple[str, tuple[Any, ...]]:
        """The statement recording an attempt cut off by a crash (its row's start, worker)."""
        started = step["started_at"]
        return (
            "INSERT OR IGNORE INTO step_attempts (task_id, step, attempt, status, worker, "
            "started_at, finished_at, duration, exit_code, reason) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (task_id, step["name"], step["attempt"], "interrupted", step["worker"], started, finished_at,
             max(0.0, finished_at - started - (step["paused_total"] or 0.0)), step["exit_code"], reason),
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
                 dumps(result.get("violations", [])), dumps(result.get("recommendations", [])),
                 dumps(result.get("evidence", [])),
                 dumps({**result.get("details", {}), "type": result["gate"]}),
                 started_at, finished_at),
            )
            self._event(task_id, step, EventKind.GATE_RESULT,
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
                (task_id, phase, kind, verdict, dumps(self.redact(task_id, data)), reviewer,
                 self.redact(task_id, reason), now),
            )
            self._event(task_id, None, EventKind.REVIEW_RECORDED,
                        {"phase": phase, "kind": kind, "verdict": verdict, "reviewer": reviewer,
                         "reason": reason}, now)

    def reviews(self, task_id: str) -> list[dict[str, Any]]:
        return [
            {"phase": r["phase"], "kind": r["kind"], "verdict": r["verdict"],
             "data": json.loads(r["data"]), "reviewer": r["reviewer"], "reason": r["reason"],
             "created_at": r["created_at"]}
            for r in self.conn.execute("SELECT * FROM reviews WHERE task_id = ? ORDER BY id", (task_id,))
        ]

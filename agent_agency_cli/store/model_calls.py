"""Model calls and task plans: the SQL of the model_calls and task_plans tables."""

from __future__ import annotations

import json
import time
from typing import Any

from agent_agency_cli.store.access import Store

CALL_FIELDS = ("model", "provider", "endpoint", "purpose", "status", "http_status", "tokens_in", "tokens_out",
               "latency", "ttft", "cost", "finish_reason", "error", "started_at")


_INSERT = (f"INSERT INTO model_calls (task_id, step, attempt, {', '.join(CALL_FIELDS)}) "
           f"VALUES (?, ?, ?, {', '.join('?' for _ in CALL_FIELDS)})")


def call_row(task_id: str | None, step: str | None, attempt: int | None,
             call: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """The statement recording one call (for a step transition's `also`: same transaction)."""
    row = {k: call.get(k) for k in CALL_FIELDS}
    row["purpose"] = row["purpose"] or "step"
    row["started_at"] = row["started_at"] or time.time()
    return _INSERT, (task_id, step, attempt, *(row[k] for k in CALL_FIELDS))


def add_model_call(store: Store, task_id: str | None, step: str | None, attempt: int | None,
                   call: dict[str, Any]) -> None:
    """Record one call now (its own transaction; any open step batch commits first)."""
    sql, params = call_row(task_id, step, attempt, call)
    with store.tx() as conn:
        conn.execute(sql, params)


def model_calls(store: Store, task_id: str) -> list[dict[str, Any]]:
    rows = store.conn.execute("SELECT * FROM model_calls WHERE task_id = ? ORDER BY id", (task_id,)).fetchall()
    return [{"step": r["step"], "attempt": r["attempt"], **{k: r[k] for k in CALL_FIELDS}} for r in rows]


def totals(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-task (or per-step) totals: the seed's model_calls and what they cost."""
    ok = [c for c in calls if c["status"] == "ok"]
    return {
        "calls": len(calls),
        "failed_calls": len(calls) - len(ok),
        "tokens_in": sum(c["tokens_in"] or 0 for c in calls),
        "tokens_out": sum(c["tokens_out"] or 0 for c in calls),
        "cost": round(sum(c["cost"] or 0.0 for c in calls), 6),
        "latency": round(sum(c["latency"] or 0.0 for c in calls), 3),
        "models": sorted({c["model"] for c in ok}),
    }


def save_plan(store: Store, task_id: str, source: str, plan: str, notes: list[str], model: str | None) -> None:
    with store.tx() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO task_plans (task_id, source, plan, notes, model) VALUES (?, ?, ?, ?, ?)",
            (task_id, source, plan, json.dumps(notes), model),
        )


def get_plan(store: Store, task_id: str) -> dict[str, Any] | None:
    r = store.conn.execute("SELECT * FROM task_plans WHERE task_id = ?", (task_id,)).fetchone()
    if r is None:
        return None
    return {"source": r["source"], "plan": r["plan"], "notes": json.loads(r["notes"]), "model": r["model"],
            "approved_at": r["approved_at"], "approved_by": r["approved_by"]}


def mark_plan_approved(store: Store, task_id: str, who: str) -> None:
    """Record who approved a task's plan, and when."""
    with store.tx() as conn:
        conn.execute("UPDATE task_plans SET approved_at = ?, approved_by = ? WHERE task_id = ?",
                     (time.time(), who, task_id))

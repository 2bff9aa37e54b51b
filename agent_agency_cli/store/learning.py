"""The SQL of the learning tables: records of finished steps, aggregates imported from
other machines, and this data home's origin id. Functions over a connection (the engine
batches a record into a step's transition; learning/ aggregates what these return)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable
from typing import Any

# The figures a record may carry (columns of learning_records), in the order aggregates use.
FIGURES = ("duration", "cpu_percent", "peak_rss_mb", "tokens", "cost", "gate_score")

_INSERT_RECORD = (
    "INSERT INTO learning_records (signature, kind, target, type, executor, success, duration, "
    "cpu_percent, peak_rss_mb, tokens, cost, gate_score, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def record_row(values: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The statement recording one finished step (for the store's batched `also` rows):
    (signature, kind, target, type, executor, success, duration, cpu_percent, peak_rss_mb,
    tokens, cost, gate_score, finished_at)."""
    return _INSERT_RECORD, values


def mean_gate_score(conn: sqlite3.Connection, task_id: str, step: str, attempt: int) -> float | None:
    """The mean score of an attempt's gate results (None when it has none)."""
    return conn.execute("SELECT AVG(score) FROM gate_results WHERE task_id = ? AND step = ? AND attempt = ?",
                        (task_id, step, attempt)).fetchone()[0]


def local_rows(conn: sqlite3.Connection, signatures: tuple[str, ...] | None = None,
               kind: str | None = None) -> list[tuple[Any, ...]]:
    """Records grouped per (signature, executor): signature, kind, target, type, executor,
    runs, successes, then for each of FIGURES how many runs had it and their sum.
    Only of `kind` (shell, model, ...) when given."""
    cols = ", ".join(f"COUNT({f}), TOTAL({f})" for f in FIGURES)
    where, params = "", ()
    if signatures is not None:
        if not signatures:
            return []
        where, params = f"WHERE signature IN ({','.join('?' * len(signatures))})", signatures
    if kind is not None:
        where, params = (f"{where} AND kind = ?" if where else "WHERE kind = ?"), (*params, kind)
    return [tuple(r) for r in conn.execute(
        f"SELECT signature, kind, target, type, executor, COUNT(*), TOTAL(success), {cols} "
        f"FROM learning_records {where} GROUP BY signature, executor", params).fetchall()]


def imported_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Imported aggregates: signature, kind, target, type, executor, stats JSON."""
    return [tuple(r) for r in
            conn.execute("SELECT signature, kind, target, type, executor, stats FROM learning_imported")]


def origin_id(conn: sqlite3.Connection) -> str:
    """This data home's random id (made on first use)."""
    row = conn.execute("SELECT id FROM learning_origin").fetchone()
    if row:
        return row[0]
    oid = uuid.uuid4().hex[:16]
    with conn:
        conn.execute("INSERT INTO learning_origin (id) VALUES (?)", (oid,))
    return oid


def replace_imported(conn: sqlite3.Connection, entries: Iterable[dict[str, Any]], now: float) -> None:
    """Store checked import entries in one transaction; an origin's earlier import is replaced."""
    entries = list(entries)
    with conn:
        for origin in {e["origin"] for e in entries}:
            conn.execute("DELETE FROM learning_imported WHERE origin = ?", (origin,))
        for e in entries:
            conn.execute(
                "INSERT OR REPLACE INTO learning_imported (origin, signature, kind, target, type, executor, "
                "stats, imported_at) VALUES (?,?,?,?,?,?,?,?)",
                (e["origin"], e["signature"], e["kind"], e["target"], e.get("type"), e.get("executor"),
                 json.dumps(e["stats"]), now))

"""Schema, as a list of sqlite-utils migrations applied in order.

`PRAGMA user_version` caches "all applied" so that read-only commands skip the
migrations table entirely.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("agent_agency_cli")


@migrations()
def m001_core(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            description TEXT NOT NULL,
            mode TEXT NOT NULL,
            priority TEXT NOT NULL,
            priority_rank INTEGER NOT NULL,
            status TEXT NOT NULL,
            requirements TEXT NOT NULL DEFAULT '[]',
            deadline REAL,
            workdir TEXT,
            plan_path TEXT,
            plan_dir TEXT,
            plan TEXT NOT NULL,
            concurrency INTEGER,
            limits TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            paused_at REAL,
            paused_total REAL NOT NULL DEFAULT 0,
            owner TEXT,
            exit_code INTEGER,
            reason TEXT,
            failed_step TEXT,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX tasks_queue ON tasks(status, priority_rank DESC, created_at)")
    db.execute(
        """
        CREATE TABLE steps (
            task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            idx INTEGER NOT NULL,
            status TEXT NOT NULL,
            kind TEXT NOT NULL,
            spec TEXT NOT NULL,
            needs TEXT NOT NULL DEFAULT '[]',
            estimate REAL,
            timeout REAL,
            idempotent INTEGER NOT NULL DEFAULT 0,
            attempt INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL DEFAULT 1,
            pid INTEGER,
            pgid INTEGER,
            exit_code INTEGER,
            reason TEXT,
            started_at REAL,
            finished_at REAL,
            paused_at REAL,
            paused_total REAL NOT NULL DEFAULT 0,
            duration REAL,
            progress REAL,
            progress_message TEXT,
            overridden INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (task_id, name)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            step TEXT,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}',
            ts REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX events_by_task ON events(task_id, id)")
    db.execute(
        """
        CREATE TABLE interventions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            args TEXT NOT NULL DEFAULT '{}',
            reason TEXT,
            who TEXT NOT NULL,
            pid INTEGER,
            created_at REAL NOT NULL,
            applied_at REAL,
            outcome TEXT,
            message TEXT
        )
        """
    )
    db.execute("CREATE INDEX interventions_pending ON interventions(task_id) WHERE applied_at IS NULL")


SCHEMA_VERSION = len(migrations._migrations)


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Apply pending migrations under a write lock, so concurrent first runs don't race."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            migrations.apply(Database(conn))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise

"""Schema, as a list of sqlite-utils migrations applied in order.

`PRAGMA user_version` caches "all applied" so that read-only commands skip the
migrations table entirely.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from agent_agency_cli.store import db

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


@migrations()
def m002_quality(db: Database) -> None:
    """Validation, council reviews, quality gates, completion and archival (phase 1, 3, 4)."""
    for col in ("validation TEXT", "risk TEXT", "review_mode TEXT", "completion TEXT",
                "archive_path TEXT", "archived_at REAL", "approve_all INTEGER NOT NULL DEFAULT 0"):
        db.execute(f"ALTER TABLE tasks ADD COLUMN {col}")
    db.execute(
        """
        CREATE TABLE gate_results (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            step TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            gate TEXT NOT NULL,
            required INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL,
            score REAL,
            violations TEXT NOT NULL DEFAULT '[]',
            recommendations TEXT NOT NULL DEFAULT '[]',
            evidence TEXT NOT NULL DEFAULT '[]',
            details TEXT NOT NULL DEFAULT '{}',
            started_at REAL,
            finished_at REAL
        )
        """
    )
    db.execute("CREATE INDEX gate_results_by_task ON gate_results(task_id, step)")
    db.execute(
        """
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            phase TEXT NOT NULL,
            kind TEXT NOT NULL,
            verdict TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}',
            reviewer TEXT,
            reason TEXT,
            created_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX reviews_by_task ON reviews(task_id, id)")


@migrations()
def m003_resources(db: Database) -> None:
    """Workers, metrics, attempts, circuit breakers and learned durations (phase 2, 3)."""
    for col in ("worker TEXT", "metrics TEXT", "next_retry_at REAL", "signature TEXT"):
        db.execute(f"ALTER TABLE steps ADD COLUMN {col}")
    db.execute("ALTER TABLE tasks ADD COLUMN complexity TEXT")
    db.execute("ALTER TABLE tasks ADD COLUMN metrics TEXT")
    db.execute(
        """
        CREATE TABLE step_attempts (
            task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            step TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            status TEXT NOT NULL,
            worker TEXT,
            started_at REAL,
            finished_at REAL,
            duration REAL,
            exit_code INTEGER,
            reason TEXT,
            PRIMARY KEY (task_id, step, attempt)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE step_metrics (
            task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            step TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            ts REAL NOT NULL,
            cpu_percent REAL,
            rss_bytes INTEGER,
            read_bytes INTEGER,
            write_bytes INTEGER,
            threads INTEGER,
            gpu_memory_bytes INTEGER,
            gpu_util_percent REAL
        )
        """
    )
    db.execute("CREATE INDEX step_metrics_by_step ON step_metrics(task_id, step, attempt, ts)")
    db.execute(
        """
        CREATE TABLE breakers (
            name TEXT PRIMARY KEY,
            state TEXT NOT NULL DEFAULT 'closed',
            failures TEXT NOT NULL DEFAULT '[]',
            successes INTEGER NOT NULL DEFAULT 0,
            opened_at REAL,
            trial_started_at REAL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE durations (
            signature TEXT NOT NULL,
            duration REAL NOT NULL,
            finished_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX durations_by_signature ON durations(signature, finished_at)")


@migrations()
def m004_models(db: Database) -> None:
    # One row per call to a model endpoint (a model step's attempts, fallbacks and repairs,
    # the model planner): the seed's TaskMetrics.model_calls, with tokens, latency and cost.
    db.execute(
        """
        CREATE TABLE model_calls (
            id INTEGER PRIMARY KEY,
            task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
            step TEXT,
            attempt INTEGER,
            model TEXT NOT NULL,
            provider TEXT,
            endpoint TEXT,
            purpose TEXT NOT NULL DEFAULT 'step',
            status TEXT NOT NULL,
            http_status INTEGER,
            tokens_in INTEGER,
            tokens_out INTEGER,
            latency REAL,
            ttft REAL,
            cost REAL,
            finish_reason TEXT,
            error TEXT,
            started_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX model_calls_by_task ON model_calls(task_id, step)")
    # How a task's plan came to be (a file, the built-in planner, a planner model), what the
    # planner could not plan, and its approval as a whole (strict mode).
    db.execute(
        """
        CREATE TABLE task_plans (
            task_id TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            plan TEXT NOT NULL,
            notes TEXT NOT NULL DEFAULT '[]',
            model TEXT,
            approved_at REAL,
            approved_by TEXT
        )
        """
    )


@migrations()
def m005_scale_indexes(db: Database) -> None:
    """Indexes for a store that grows (100,000 tasks): the list page, the daemon's periodic
    queries (pending interventions, the archive sweep, the retention prune), an engine's own tasks."""
    # `task list` and the dashboard feed: newest first (rowid breaks ties, and is in every index).
    db.execute("CREATE INDEX tasks_by_created ON tasks(created_at)")
    # `task list --status X`: the status's rows in created order, no sort of the whole table.
    db.execute("CREATE INDEX tasks_by_status ON tasks(status, created_at)")
    db.execute("CREATE INDEX tasks_by_owner ON tasks(owner, started_at)")
    # The archive sweep looks only at finished, not yet archived tasks past the cut-off...
    db.execute("CREATE INDEX tasks_to_archive ON tasks(finished_at) WHERE archived_at IS NULL")
    # ...and the retention prune only at archived ones.
    db.execute("CREATE INDEX tasks_archived ON tasks(finished_at) WHERE archived_at IS NOT NULL")
    db.execute("CREATE INDEX interventions_by_task ON interventions(task_id, id)")
    # The engine polls the unapplied rows in id order (rowid is the index's tail).
    db.execute("CREATE INDEX interventions_unapplied ON interventions(applied_at) WHERE applied_at IS NULL")


@migrations()
def m006_learning(db: Database) -> None:
    """Learning from runs: one record per finished step, and aggregates imported from
    other machines (learning/)."""
    db.execute(
        """
        CREATE TABLE learning_records (
            id INTEGER PRIMARY KEY,
            signature TEXT NOT NULL,      -- class of step: hash of kind, target, type
            kind TEXT NOT NULL,           -- shell, python, tool, model
            target TEXT NOT NULL,         -- program name, module:function, server/tool or model
            type TEXT,                    -- the step's type (code, testing, review, ...)
            executor TEXT,                -- the model or MCP server that ran it, when there is one
            success INTEGER NOT NULL,
            duration REAL,
            cpu_percent REAL,
            peak_rss_mb REAL,
            tokens INTEGER,
            cost REAL,
            gate_score REAL,
            finished_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX learning_by_signature ON learning_records(signature, finished_at)")
    db.execute(
        """
        CREATE TABLE learning_imported (
            origin TEXT NOT NULL,         -- the exporting data home's random id (re-import replaces)
            signature TEXT NOT NULL,
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            type TEXT,
            executor TEXT,
            stats TEXT NOT NULL,          -- JSON: counts and sums (learning/aggregate.py)
            imported_at REAL NOT NULL,
            PRIMARY KEY (origin, signature, executor)
        )
        """
    )
    # This data home's random id, named in its exports (never a hostname or a path).
    db.execute("CREATE TABLE learning_origin (id TEXT NOT NULL)")


@migrations()
def m007_stakeholders(db: Database) -> None:
    # The seed's TaskRequest.stakeholders: who is told about the task (a JSON list of names).
    db.execute("ALTER TABLE tasks ADD COLUMN stakeholders TEXT NOT NULL DEFAULT '[]'")


@migrations()
def m008_learning_by_kind(db: Database) -> None:
    # `model: auto` reads the model steps' records per type and model at every task create.
    db.execute("CREATE INDEX learning_by_kind ON learning_records(kind, type, executor)")


@migrations()
def m009_step_indexes(db: Database) -> None:
    """`task status` of a task of 100,000 steps reads parts of it (store/step_pages.py): the
    counts per status and the notable steps from (task_id, status), a page in plan order from
    (task_id, idx), without reading every row of the task."""
    db.execute("CREATE INDEX steps_by_status ON steps(task_id, status)")
    db.execute("CREATE INDEX steps_in_order ON steps(task_id, idx)")


@migrations()
def m010_submit_requests(db: Database) -> None:
    # The caller's id of a submission (`task create` through the daemon's socket): a retry
    # after a lost answer finds the task it stored instead of storing a second one.
    db.execute(
        """
        CREATE TABLE submit_requests (
            request_id TEXT PRIMARY KEY,
            task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX submit_requests_task ON submit_requests(task_id)")


SCHEMA_VERSION = len(migrations._migrations)
assert SCHEMA_VERSION == db.SCHEMA_VERSION, "update store/db.py SCHEMA_VERSION with the migrations"


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

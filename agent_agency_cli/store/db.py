"""Connections: WAL, busy_timeout, foreign keys; migrations applied once per schema version."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000
# The number of migrations in store/migrations.py (a test keeps the two in step).
# Checked before importing the migrations, so read-only commands skip sqlite-utils.
SCHEMA_VERSION = 4


def connect(path: Path | str, *, migrate: bool = True) -> sqlite3.Connection:
    """Open the database in autocommit mode (we issue BEGIN IMMEDIATE ourselves).

    A file that is not a usable SQLite database is an AgencyError with one clear line.
    """
    try:
        return _connect(path, migrate)
    except sqlite3.DatabaseError as exc:
        from agent_agency_cli.errors import AgencyError

        raise AgencyError(f"cannot use the database {path}: {exc} (move it away to start afresh)") from None


def _connect(path: Path | str, migrate: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path),
        isolation_level=None,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
        cached_statements=256,
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode survives a killed process (only power loss can drop
    # the last commits); that is the durability this tool promises.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    if migrate and conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        from agent_agency_cli.store.migrations import ensure_schema

        ensure_schema(conn)
    return conn


@contextmanager
def write_tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction, taken eagerly (BEGIN IMMEDIATE) so concurrent writers queue on
    busy_timeout instead of failing when a read would have to become a write.

    A group-commit batch left open on this connection (Store.set_step_status with
    batch=True) is committed first, so statements stay in order."""
    if conn.in_transaction:
        conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")

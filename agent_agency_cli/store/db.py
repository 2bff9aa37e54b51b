"""Connections: WAL, busy_timeout, foreign keys; migrations applied once per schema version."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000
# The number of migrations in store/migrations.py (a test keeps the two in step).
# Checked before importing the migrations, so read-only commands skip sqlite-utils.
SCHEMA_VERSION = 3


def connect(path: Path | str, *, migrate: bool = True) -> sqlite3.Connection:
    """Open the database in autocommit mode (we issue BEGIN IMMEDIATE ourselves).

    A file that is not a usable SQLite database is an AgencyError with one clear line.
    """
    try:
        return _connect(path, migrate)
    except sqlite3.DatabaseError as exc:
        from agent_agency_cli.errors import AgencyError

        raise AgencyError(f"cannot use the database {path}: {exc} (move it away to start afresh)") from None


def _make_private(path: Path | str) -> None:
    """Create the database 0600 (SQLite gives its -wal and -shm files the same mode), never
    through a symlink; tighten a database and journals an older version left readable.

    An existing database is never opened here: closing any descriptor of the file would
    drop the POSIX locks of this process's other SQLite connections to it."""
    if str(path) == ":memory:" or str(path).startswith("file:"):
        return
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            return  # created meanwhile by another process: it made it private
        except OSError:
            return  # e.g. a missing directory: sqlite3 says why
        os.close(fd)
        return
    except OSError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise sqlite3.DatabaseError("it is a symbolic link")
    if st.st_mode & 0o077:
        for name in (str(path), f"{path}-wal", f"{path}-shm"):
            try:
                os.chmod(name, 0o600, follow_symlinks=False)
            except (FileNotFoundError, NotImplementedError, PermissionError):
                pass


def _connect(path: Path | str, migrate: bool) -> sqlite3.Connection:
    _make_private(path)
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

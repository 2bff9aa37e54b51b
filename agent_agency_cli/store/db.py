"""Connections: WAL, busy_timeout, foreign keys; migrations applied once per schema version."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent_agency_cli.errors import AgencyError


def _log() -> Any:
    """The module's logger, on first use: importing logging costs every CLI command."""
    import logging  # lazy: keeps start-up light

    return logging.getLogger(__name__)


BUSY_TIMEOUT_MS = 30_000
# The number of migrations in store/migrations.py (a test keeps the two in step).
# Checked before importing the migrations, so read-only commands skip sqlite-utils.
SCHEMA_VERSION = 10


class PatientConnection(sqlite3.Connection):
    """The engine's connection: a write that finds the database locked past busy_timeout
    waits and retries (with backoff) instead of failing: a step never fails because
    another process held the write lock for a while."""

    patient = True


def connect(path: Path | str, *, migrate: bool = True, patient: bool = False) -> sqlite3.Connection:
    """Open the database in autocommit mode (we issue BEGIN IMMEDIATE ourselves).

    A file that is not a usable SQLite database is an AgencyError with one clear line.
    With `patient`, writes wait for a locked database as long as it takes (the engine);
    otherwise a lock held past busy_timeout is an error (a command a person waits on).
    """
    try:
        return _connect(path, migrate, patient)
    except sqlite3.DatabaseError as exc:

        raise AgencyError(database_fault(exc, path)) from None


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


def _connect(path: Path | str, migrate: bool, patient: bool = False) -> sqlite3.Connection:
    _make_private(path)
    conn = sqlite3.connect(
        str(path),
        factory=PatientConnection if patient else sqlite3.Connection,
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
        from agent_agency_cli.store.migrations import ensure_schema  # lazy: store.migrations imports this module back

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
    begin_immediate(conn)
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def impatient(conn: sqlite3.Connection, busy_ms: int) -> Iterator[None]:
    """Within the block, a write lock another process holds past `busy_ms` is an error
    (sqlite3.OperationalError "database is locked") on a patient connection too, not a wait
    (the engine's loop: it backs off and serves the running tasks meanwhile)."""
    if not getattr(conn, "patient", False):
        yield
        return
    conn.patient = False  # type: ignore[attr-defined]  # the instance's, over the class's True
    conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    try:
        yield
    finally:
        del conn.patient  # type: ignore[attr-defined]
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error:
            pass


def begin_immediate(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE; on a patient connection, a lock held past busy_timeout is waited
    out (retried with backoff, each wait logged with its cause) instead of raised."""
    if not getattr(conn, "patient", False):
        conn.execute("BEGIN IMMEDIATE")
        return
    started = time.monotonic()
    tries = 0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if "locked" not in text and "busy" not in text:
                raise
            tries += 1
            _log().warning("database busy for %.1fs (%s): another process holds the write lock; "
                        "still waiting to write (try %d)", time.monotonic() - started, exc, tries)
            time.sleep(min(0.05 * 2 ** min(tries, 6), 2.0))
            continue
        if tries:
            _log().warning("database writable again after %.1fs", time.monotonic() - started)
        return


def database_fault(exc: sqlite3.Error, db: Path | str | None) -> str:
    """One line for a database error: what happened (locked, read-only, full, corrupted:
    checked with PRAGMA quick_check) and what to do."""
    text = str(exc)
    name = str(db) if db else "the database"
    low = text.lower()
    if "locked" in low or "busy" in low:
        return (f"{name} is locked by another process ({text}); try again once it is done "
                "(`fuser` shows who holds it)")
    if "readonly" in low or "read-only" in low:
        return f"{name} is read-only ({text}); make it and its folder writable by you"
    if "full" in low:
        return f"no space left for {name} ({text}); free some space on its file system and try again"
    if "symbolic link" in low or (db is not None and os.path.islink(db)):
        return f"cannot use the database {name}: {text} (replace it with the real file)"
    if "unable to open" in low:
        return f"cannot open {name} ({text}); check that its folder exists and is writable"
    problem = quick_check(db) if db else None
    if problem:
        return (f"{name} is corrupted ({problem}); stop the daemon, move it aside "
                f"(mv {name} {name}.corrupt) and recover what you can with "
                f"`sqlite3 {name}.corrupt .recover | sqlite3 {name}`")
    return f"cannot use the database {name}: {text}"


def quick_check(db: Path) -> str | None:
    """None if PRAGMA quick_check finds the database sound, else what it found."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchmany(3)]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if rows == ["ok"] else "; ".join(rows)

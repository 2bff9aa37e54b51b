"""Database faults in the engine's own loop: the claim, the intervention poll and answers,
the orphan scan, the archive sweep and metric-sample writes.

Each of these is one transaction that SQLite rolls back whole when it fails, so it can
simply be tried again later: nothing is half-done and no task is lost (a queued task stays
queued until a claim commits). A failure is logged to daemon.log with its cause and the
work is retried with exponential backoff; it never ends the daemon. A lock held only for a
moment (ordinary contention with other writers) is retried without a log line. The engine's
connection waits out a locked database for as long as it takes (store/db.py, "patient"),
which suits a runner's commits but would freeze the whole loop here: the loop's work runs
with a short busy timeout instead, and a lock held longer is one more failure to back off
from, while the runners go on. (Storage faults inside a task's runner: storage_faults.py.)
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from agent_agency_cli.store.base import BatchLostError
from agent_agency_cli.store.db import impatient

log = logging.getLogger(__name__)

RETRY_FIRST = 0.25  # seconds before the first retry of a failed piece of loop work
LOOP_BUSY_TIMEOUT_MS = 250  # how long the loop waits for another process's write lock per try
RETRY_MAX = 5.0  # the backoff's ceiling (a claim waits no longer than this once the database is back)
# A write lock that other processes hold for a moment (many submits at once) is ordinary
# contention, not a fault: it is logged only once it outlasts this many tries (~1 s).
QUIET_LOCK_TRIES = 2
DATABASE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, OSError, BatchLostError)


def cause(exc: BaseException) -> str:
    """The failure in one line, with what it usually means."""
    text = f"{type(exc).__name__}: {exc}"
    low = str(exc).lower()
    if "locked" in low or "busy" in low:
        return f"{text} (another process holds the database's write lock)"
    if "full" in low:
        return f"{text} (no space left on the data home's file system)"
    if "readonly" in low or "read-only" in low:
        return f"{text} (the database or its folder is not writable)"
    return text


def _is_lock(exc: BaseException) -> bool:
    low = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in low or "busy" in low)


class LoopFaults:
    """Runs the loop's database work; remembers what failed and when to try it again."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._quiet: set[str] = set()  # failing only on a brief lock so far: nothing logged yet

    def due(self, what: str) -> bool:
        return time.monotonic() >= self._retry_at.get(what, 0.0)

    def delay(self, what: str) -> float:
        """Seconds until `what` is tried again (0 when it has not failed)."""
        return max(0.0, self._retry_at.get(what, 0.0) - time.monotonic())

    def next_retry_in(self) -> float | None:
        """Seconds until the soonest retry of anything that failed; None when nothing did."""
        if not self._retry_at:
            return None
        return max(0.0, min(self._retry_at.values()) - time.monotonic())

    def attempt(self, what: str, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """(True, fn(*args)), or (False, None) after a database error (logged, backed off)
        and while its backoff lasts. Other exceptions propagate."""
        if not self.due(what):
            return False, None
        try:
            with impatient(self.conn, LOOP_BUSY_TIMEOUT_MS):
                result = fn(*args)
        except DATABASE_ERRORS as exc:
            self._failed(what, exc)
            return False, None
        self._succeeded(what)
        return True, result

    def _failed(self, what: str, exc: BaseException) -> None:
        n = self._failures[what] = self._failures.get(what, 0) + 1
        wait = min(RETRY_MAX, RETRY_FIRST * 2 ** (n - 1))
        self._retry_at[what] = time.monotonic() + wait
        if _is_lock(exc) and n <= QUIET_LOCK_TRIES:
            self._quiet.add(what)
            return
        self._quiet.discard(what)
        log.warning("%s failed (try %d): %s; retrying in %.2fs", what, n, cause(exc), wait)

    def _succeeded(self, what: str) -> None:
        n = self._failures.pop(what, 0)
        self._retry_at.pop(what, None)
        if n and what not in self._quiet:  # said it failed: say it recovered
            log.warning("%s works again after %d failed tr%s", what, n, "y" if n == 1 else "ies")
        self._quiet.discard(what)

    def forget(self, what: str) -> None:
        self._failures.pop(what, None)
        self._retry_at.pop(what, None)


def sample_recorder(runner: Any, step: str, attempt: int) -> Callable[[Any], None]:
    """Stores a step's metric samples; a write that fails is logged and the sample dropped
    (samples are a series, the next one follows) while the writes back off."""

    faults = getattr(runner.engine, "faults", None) or LoopFaults(runner.store.conn)

    def record(sample: Any) -> None:
        faults.attempt("storing a metric sample", runner.store.add_metric_sample, runner.task_id, step, attempt,
                       sample)

    return record


def hand_back_unstarted(engine: Any) -> None:
    """Queue again the tasks this engine claimed but could not start a runner for (a database
    error while loading them), as crash recovery would: a claim never strands a task."""
    from agent_agency_cli.engine.process import home_marker  # lazy: keeps start-up light
    from agent_agency_cli.engine.recovery import recover_task  # lazy: keeps start-up light

    for task_id in list(engine.unstarted):
        if task_id in engine.runners:
            engine.unstarted.discard(task_id)
            continue
        task = engine.store.get_task(task_id)
        recover_task(engine.store, task, home_marker(engine.paths.home), engine.remote_killer,
                     why="engine could not start it")
        engine.unstarted.discard(task_id)

"""Storage faults. A step log that cannot be written (disk full, file too large, I/O
error) pauses the task with the cause, or fails the step (`task_execution.on_write_error:
pause|fail`); a paused task is probed every STORAGE_PROBE_INTERVAL and resumes by itself
once its log can be written again (`task resume` works too, and `task cancel` at any time).

A database write that fails ends the task's runner (SQLite rolls the transaction back, so
it cannot be retried in place): the engine waits until the database takes a write again,
then hands the task back as crash recovery does and runs it again from its committed state.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from agent_agency_cli.errors import ConflictError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.executors.step_log import StepLog
from agent_agency_cli.models import TaskStatus

if TYPE_CHECKING:
    from agent_agency_cli.engine.runner import StepState, TaskRunner

T = TaskStatus
log = logging.getLogger(__name__)
STORAGE_PROBE_INTERVAL = 0.5  # seconds between write attempts while paused for a storage fault


def watch_log(runner: TaskRunner, st: StepState, log: StepLog) -> None:
    """Route the log's storage errors (from any thread) to the task's runner."""
    loop = asyncio.get_running_loop()

    def on_error(exc: OSError) -> None:
        try:
            loop.call_soon_threadsafe(_fault, runner, st, log, exc)
        except RuntimeError:  # the loop is closed: the task is over
            pass

    log.on_write_error = on_error


def describe(exc: OSError, what: str) -> str:
    code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return f"{what} failed: {exc.strerror or exc} ({code})"


def _fault(runner: TaskRunner, st: StepState, log: StepLog, exc: OSError) -> None:
    if runner.cancel_reason is not None or runner.status.is_terminal:
        return
    what = describe(exc, f"writing the log of step {st.name}")
    if runner.settings.task_execution.on_write_error == "fail":
        runner._request_stop(st, f"storage error: {what}")
        return
    if runner.status in (T.RUNNING, T.AWAITING_APPROVAL) and runner._tg is not None:
        runner._tg.start_soon(_pause_until_writable, runner, log, what)


async def _pause_until_writable(runner: TaskRunner, log: StepLog, what: str) -> None:
    from agent_agency_cli.engine import control  # lazy: keeps start-up light

    try:
        control.pause(runner, control.Request(kind="pause", reason=what, who="engine"))
    except ConflictError:
        return
    reason = f"paused: {what}; free space, then `task resume` (it resumes by itself once the log can be written)"
    runner.store.update_task_fields(runner.task_id, event=EventKind.STORAGE_FAULT, payload={"reason": what},
                                    reason=reason)
    while runner.status is T.PAUSED and runner.cancel_reason is None:
        await anyio.sleep(STORAGE_PROBE_INTERVAL)
        if runner.status is not T.PAUSED or runner.cancel_reason is not None:
            break
        if log.probe():
            try:
                control.resume(runner, control.Request(kind="resume", reason="the log can be written again",
                                                       who="engine"))
            except ConflictError:
                break
            runner.store.update_task_fields(runner.task_id, event=EventKind.STORAGE_RECOVERED,
                                            payload={"reason": what}, reason=None)
            break
    log.write_error = None  # resumed by hand on a still full disk: the next failure pauses again


_DB_FAULTS = ("disk i/o error", "database or disk is full", "file too large", "no space left")


def database_fault(exc: BaseException) -> str | None:
    """The storage error behind a runner's failure (in a group, a cause or a context), if any."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        text = str(cur).lower()
        if isinstance(cur, sqlite3.Error | OSError) and any(k in text for k in _DB_FAULTS):
            return str(cur)
        if "batch was lost" in text and any(k in text for k in _DB_FAULTS):
            return str(cur)
        stack.extend(getattr(cur, "exceptions", ()))
        stack.extend(e for e in (cur.__cause__, cur.__context__) if e is not None)
    return None


async def hand_back_when_writable(store: Any, task_id: str, why: str,
                                  kill_remote: Callable[[str, str, int], int] | None = None,
                                  runners: dict[str, Any] | None = None) -> None:
    """A runner died because the database could not be written: wait (probing with
    backoff, without blocking the engine) until a write succeeds, then hand the task
    back as crash recovery does, so the scheduler claims and resumes it.

    A lost group-commit batch may hold other runners' changes too: they end at their
    next commit and come here as well. The store takes writes again (its lost batch is
    forgotten) once none of the runners that shared it is left."""
    from agent_agency_cli.engine.process import home_marker  # lazy: keeps start-up light
    from agent_agency_cli.engine.recovery import recover_task  # lazy: keeps start-up light

    reason = f"the database could not be written ({why})"
    log.warning("task %s: %s; waiting for space to resume it", task_id, reason)
    delay, started = 0.1, time.monotonic()
    while True:
        try:
            store.add_event(task_id, EventKind.STORAGE_FAULT, {"reason": reason})
            break
        except sqlite3.Error as exc:
            if not database_fault(exc):
                raise
            await anyio.sleep(delay)
            delay = min(delay * 2, 2.0)
    while runners:  # others that may have shared the lost batch end at their next commit
        await anyio.sleep(0.2)
    if getattr(store, "_batch_lost", None) is not None:
        store._batch_lost = None
    log.warning("task %s: the database is writable again after %.1fs: resuming it", task_id,
                time.monotonic() - started)
    recover_task(store, store.get_task(task_id), home_marker(store.home()), kill_remote,
                 why="engine could not write the database")

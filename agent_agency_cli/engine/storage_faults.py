"""A step log that cannot be written (disk full, file too large, I/O error) pauses the task
with the cause, or fails the step (`task_execution.on_write_error: pause|fail`).

A paused task is probed every STORAGE_PROBE_INTERVAL: once its log can be written again
the task resumes by itself (`task resume` works too, and `task cancel` at any time).
"""

from __future__ import annotations

import asyncio
import errno
from typing import TYPE_CHECKING

import anyio

from agent_agency_cli.errors import ConflictError
from agent_agency_cli.executors.step_log import StepLog
from agent_agency_cli.models import TaskStatus

if TYPE_CHECKING:
    from agent_agency_cli.engine.runner import StepState, TaskRunner

T = TaskStatus
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
    try:
        await runner.pause()
    except ConflictError:
        return
    reason = f"paused: {what}; free space, then `task resume` (it resumes by itself once the log can be written)"
    runner.store.update_task_fields(runner.task_id, event="storage_fault", payload={"reason": what}, reason=reason)
    while runner.status is T.PAUSED and runner.cancel_reason is None:
        await anyio.sleep(STORAGE_PROBE_INTERVAL)
        if runner.status is not T.PAUSED or runner.cancel_reason is not None:
            break
        if log.probe():
            try:
                await runner.resume()
            except ConflictError:
                break
            runner.store.update_task_fields(runner.task_id, event="storage_recovered",
                                            payload={"reason": what}, reason=None)
            break
    log.write_error = None  # resumed by hand on a still full disk: the next failure pauses again

"""Submission: storing prepared tasks, one or a batch, each durable when its id is returned.

`submit` is `TaskOrchestrator.submit_task`: prepare (validation, council, planning; writes
nothing), then one transaction that stores the task. A caller's `request_id` is stored
with the task in that transaction, so a retry of the same submission (an answer lost when
the daemon died mid-request, cli/daemon_submit.py) finds the task instead of storing a
second one. `submit_many` is `TaskOrchestrator.submit_tasks`: one transaction per task, a
bad request reported in its place without losing the others, the daemon started once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from agent_agency_cli.errors import AgencyError, StoredNotStartedError
from agent_agency_cli.models import FOREGROUND_OWNER, HELD_OWNER, ExecutionMode, TaskStatus

if TYPE_CHECKING:
    from agent_agency_cli.orchestration.intake import Intake
    from agent_agency_cli.orchestrator import TaskOrchestrator
    from agent_agency_cli.request import TaskRequest

# Given the prepared rows, a reason not to store them here (None: store them).
Acceptor = Callable[[dict[str, Any], list[dict[str, Any]]], str | None]


class NotServed(Exception):  # not an error: the caller takes another path
    """`accept` declined a prepared task; nothing was stored."""


def _intake(orch: TaskOrchestrator) -> Intake:
    from agent_agency_cli.orchestration.intake import Intake  # pydantic: only at submit

    return Intake(orch.settings, orch.store if orch.paths.db.exists() else None)


def stored_for(orch: TaskOrchestrator, request_id: str | None) -> str | None:
    """The task already stored for this submission id, if any (no database: none)."""
    if request_id is None or not orch.paths.db.exists():
        return None
    return orch.store.task_for_request(request_id)


def submit(orch: TaskOrchestrator, request: TaskRequest | dict[str, Any], *, start_daemon: bool = True,
           reserve: str | None = None, request_id: str | None = None, accept: Acceptor | None = None,
           intake: Intake | None = None) -> str:
    """Validate and store one task; start the daemon unless told not to (see the module)."""
    existing = stored_for(orch, request_id)
    if existing is not None:  # this submission was stored before its answer was lost
        _after_store(orch, existing, start_daemon)
        return existing
    intake = intake or _intake(orch)
    task, steps = intake.prepare(request)
    if accept is not None:
        why = accept(task, steps)
        if why is not None:
            raise NotServed(why)
    if reserve is not None and (reserve != FOREGROUND_OWNER or task["status"] == TaskStatus.QUEUED.value):
        task["owner"] = reserve  # a foreground task awaiting review is the daemon's once approved
    store = orch.store
    try:
        tid, planned, sealed = intake.store_task(store, orch.paths, task, steps, request_id=request_id)
    except sqlite3.IntegrityError:
        # The same submission committed meanwhile on another path: that task is the answer.
        existing = stored_for(orch, request_id)
        if existing is None:
            raise
        _after_store(orch, existing, start_daemon)
        return existing
    try:  # the task exists from here on: whatever fails must still name its id
        from agent_agency_cli.planning.task_record import record_plan  # lazy: keeps start-up light

        record_plan(store, tid, planned, steps, sealed)
        if task["status"] == TaskStatus.AWAITING_REVIEW.value:
            orch._notify("awaiting_review", tid)
        if task["mode"] == ExecutionMode.DRY_RUN.value and reserve != HELD_OWNER:
            orch.dry_run(tid)  # held: simulated by `task release`
        elif start_daemon and task["status"] == TaskStatus.QUEUED.value:
            orch.ensure_daemon()
    except Exception as exc:
        raise StoredNotStartedError(tid, exc) from exc
    return tid


def _after_store(orch: TaskOrchestrator, tid: str, start_daemon: bool) -> None:
    """A task found stored by an earlier try: start the daemon if it waits for one."""
    if not start_daemon:
        return
    task = orch.store.get_task(tid)
    if task["status"] == TaskStatus.QUEUED.value and task["mode"] != ExecutionMode.DRY_RUN.value:
        try:
            orch.ensure_daemon()
        except Exception as exc:
            raise StoredNotStartedError(tid, exc) from exc


def submit_many(orch: TaskOrchestrator, requests: Sequence[TaskRequest | dict[str, Any]], *,
                start_daemon: bool = True, request_ids: Sequence[str] | None = None) -> list[str | AgencyError]:
    """Submit several tasks in order: one transaction per task, so each is durable when it
    is stored. Returns, per request and in its order, the task id or the AgencyError that
    refused it (bad input: nothing of that one stored; the others are). The daemon is
    started once, after the last; if it cannot start, each queued task's entry becomes a
    StoredNotStartedError naming its id."""
    intake = _intake(orch) if requests else None
    out: list[str | AgencyError] = []
    if request_ids is not None and len(request_ids) != len(requests):
        raise ValueError("one request id per request")
    for i, request in enumerate(requests):
        try:
            out.append(submit(orch, request, start_daemon=False, intake=intake,
                              request_id=None if request_ids is None else request_ids[i]))
        except AgencyError as exc:
            out.append(exc)
    if not start_daemon:
        return out
    queued = [i for i, r in enumerate(out) if isinstance(r, str) and _waits_for_daemon(orch, r)]
    if queued:
        try:
            orch.ensure_daemon()
        except Exception as exc:
            for i in queued:
                out[i] = StoredNotStartedError(str(out[i]), exc)
    return out


def _waits_for_daemon(orch: TaskOrchestrator, tid: str) -> bool:
    task = orch.store.get_task(tid)
    return task["status"] == TaskStatus.QUEUED.value and task["mode"] != ExecutionMode.DRY_RUN.value

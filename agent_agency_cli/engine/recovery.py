"""Crash recovery: tasks whose engine died are found, their orphaned process
groups killed, running steps marked interrupted, and the tasks handed back."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from agent_agency_cli.engine.process import home_marker, identity_alive, kill_step_processes
from agent_agency_cli.engine.queued import apply_pending, pending_ids
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import ACTIVE_TASK_STATUSES, RESERVED_PREFIX, StepStatus, TaskStatus
from agent_agency_cli.store import Store

log = logging.getLogger(__name__)


def recover_orphans(store: Store, identity: str,
                    kill_remote: Callable[[str, str, int], int] | None = None) -> list[str]:
    """Recover every active task whose owner is no longer alive. Returns their ids.

    Finished steps stay finished (their outcome was committed). Running or
    paused steps become `interrupted`; the runner that next claims the task
    decides per step whether to re-run it (see Recovery.rerun_interrupted).
    `kill_remote(task_id, step, attempt)` also kills the step's processes on other
    machines (the Ray nodes' agents, by the step's markers) and fences that attempt off
    so that it cannot start there later.
    """
    recovered = []
    home_id = home_marker(store.home())
    for task in store.tasks_owned_elsewhere([s.value for s in ACTIVE_TASK_STATUSES], identity):
        if identity_alive(task["owner"]) or (task["owner"] or "").startswith(RESERVED_PREFIX):
            continue  # a live engine's, or a held task paused before it ever ran (no engine had it)
        recover_task(store, task, home_id, kill_remote)
        recovered.append(task["id"])
    return recovered


def recover_task(store: Store, task: Any, home_id: str,
                 kill_remote: Callable[[str, str, int], int] | None = None,
                 why: str = "engine died") -> None:
    """Hand one task back whose runner is gone: kill its steps' processes, mark its active
    steps interrupted, queue it again (a pause or escalation stays) and apply the
    interventions sent to the runner meanwhile."""
    tid = task["id"]
    # Sent to the engine that died (an ownerless task takes the direct path instead).
    queued = pending_ids(store, tid)
    killed = 0
    for step in store.get_steps(tid):
        status = StepStatus(step["status"])
        if not status.is_active:
            continue
        killed += kill_step_processes(tid, step["name"], step["pgid"], step["started_at"], home_id)
        if kill_remote is not None:
            killed += kill_remote(tid, step["name"], step["attempt"])
        now = time.time()
        also = []
        if step["attempt"] and step["started_at"] and status is not StepStatus.AWAITING_APPROVAL:
            # The cut attempt joins the history, as a finished one does: a re-run starts clean.
            also.append(store.interrupted_attempt_row(tid, step, now, f"interrupted: {why}"))
        store.set_step_status(
            tid, step["name"], status, StepStatus.INTERRUPTED, event=EventKind.STEP_INTERRUPTED,
            payload={"reason": f"its {why}"}, reason=f"interrupted: {why}",
            finished_at=now, also=also,
        )
    old = TaskStatus(task["status"])
    # A pause or escalation is a person's decision and survives the crash;
    # anything else goes back to the queue for the next engine.
    new = old if old in (TaskStatus.PAUSED, TaskStatus.ESCALATED) else TaskStatus.QUEUED
    payload = {"dead_owner": task["owner"], "killed_processes": killed, "why": why}
    if new is old:
        store.update_task_fields(tid, event=EventKind.TASK_RECOVERED,
                                 payload={"status": old.value, **payload}, owner=None)
    else:
        store.set_task_status(tid, old, new, event=EventKind.TASK_RECOVERED, payload=payload,
                              owner=None)
    log.info("recovered task %s (was %s, owner %s, killed %d)", tid, old, task["owner"], killed)
    if queued:
        apply_pending(store, tid, queued)

"""Interventions left pending by an engine that died before applying them.

A `task cancel` (or pause, modify, ...) sent to an engine that then stops is still a row
in `interventions` with no outcome. Recovery hands the task back without an owner; the
row is then applied here, on the stored task, before any engine claims it again, so a
cancel sent to a dead engine cancels the task instead of being lost (and the step re-run).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from agent_agency_cli.errors import AgencyError, ConflictError
from agent_agency_cli.models import StepStatus, TaskStatus, override_target
from agent_agency_cli.store import Store

log = logging.getLogger(__name__)

T = TaskStatus


def pending_ids(store: Store, task_id: str) -> list[int]:
    """Ids of the task's interventions that nobody has answered yet, oldest first."""
    return [r["id"] for r in store.conn.execute(
        "SELECT id FROM interventions WHERE task_id = ? AND applied_at IS NULL ORDER BY id", (task_id,))]


def apply_pending(store: Store, task_id: str, ids: list[int]) -> list[tuple[int, str, str]]:
    """Apply these pending interventions, in order, to a task no engine holds.

    Returns (id, outcome, message) for each; every row gets its outcome recorded.
    """
    done = []
    for iid in ids:
        iv = store.get_intervention(iid)
        if iv["applied_at"] is not None:
            continue
        try:
            outcome, message = "applied", _apply(store, task_id, iv)
        except AgencyError as exc:
            outcome, message = "rejected", str(exc)
        except Exception as exc:  # a row we cannot apply must still be answered
            log.exception("queued intervention %s failed", iid)
            outcome, message = "rejected", f"engine error: {exc}"
        store.finish_intervention(iid, task_id, outcome, message)
        log.info("task %s: applied the %s queued before the engine restarted (%s: %s)",
                 task_id, iv["kind"], outcome, message)
        done.append((iid, outcome, message))
    return done


def _apply(store: Store, tid: str, iv: Any) -> str:
    task = store.get_task(tid)
    status = TaskStatus(task["status"])
    kind, reason = iv["kind"], iv["reason"]
    args: dict[str, Any] = json.loads(iv["args"])
    if status.is_terminal and kind != "override":
        raise ConflictError(f"task {tid} is {status}; nothing to {kind}")
    if kind == "cancel":
        steps = store.get_steps(tid)
        open_steps = [s["name"] for s in steps if not StepStatus(s["status"]).is_finished]
        store.set_steps_status(tid, open_steps, {s["name"]: StepStatus(s["status"]) for s in steps},
                               StepStatus.CANCELLED, event="step_cancelled", payload={"reason": reason})
        store.set_task_status(tid, status, T.CANCELLED, event="task_cancelled", payload={"reason": reason},
                              reason=reason, finished_at=time.time(), exit_code=T.CANCELLED.exit_code)
        return f"cancelled task {tid} (queued while its engine was down)"
    if kind == "pause":
        if status is not T.QUEUED:
            raise ConflictError(f"task {tid} is {status}; nothing to pause")
        store.set_task_status(tid, status, T.PAUSED, event="task_paused", paused_at=time.time())
        return f"paused task {tid} (it will not start until resumed)"
    if kind == "resume":
        if status not in (T.PAUSED, T.ESCALATED):
            raise ConflictError(f"task {tid} is {status}; nothing to resume")
        extra = {}
        if task["paused_at"]:
            extra["paused_total"] = task["paused_total"] + time.time() - task["paused_at"]
        store.set_task_status(tid, status, T.QUEUED, event="task_resumed", paused_at=None, **extra)
        return f"resumed task {tid}"
    if kind == "modify":
        changes = dict(args["changes"])
        if "limits" in changes:
            changes["limits"] = {**json.loads(task["limits"] or "{}"), **changes["limits"]}
        old = {k: task[k] for k in changes if k in task.keys()}
        store.update_task_fields(tid, event="task_modified", payload={"old": old, "new": changes}, **changes)
        return f"modified task {tid}: " + ", ".join(sorted(changes))
    if kind == "override":
        step = store.get_step(tid, args["step"])
        old_s = StepStatus(step["status"])
        new_s = override_target(old_s, args["action"], args["step"])
        fields: dict[str, Any] = {"overridden": int(new_s is not StepStatus.PENDING),
                                  "reason": f"override: {reason}"}
        if new_s is StepStatus.PENDING:
            fields["max_attempts"] = max(step["max_attempts"], step["attempt"] + 1)
        store.set_step_status(tid, args["step"], old_s, new_s, event="step_overridden",
                              payload={"action": args["action"], "reason": reason}, **fields)
        return f"step {args['step']}: {args['action']} ({reason})"
    # approve / reject answer a question the dead engine asked (the next engine asks again);
    # escalate needs a running task.
    raise ConflictError(f"task {tid} is {status} and awaits no decision; nothing to {kind} "
                        "(its engine restarted: it asks again)")

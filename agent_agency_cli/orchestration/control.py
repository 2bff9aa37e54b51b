"""Control from any process: route an intervention to the engine that holds the task, or
apply it here when none does; the council's blocking review; `task retry`.

Both routes end in the same handler (engine/control.py), so the outcome is the same
whoever applies it. An intervention is always recorded as a row with its outcome.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from agent_agency_cli.engine import control
from agent_agency_cli.errors import (
    AgencyError,
    BadInputError,
    ConflictError,
    DaemonError,
    InvalidTransition,
)
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import ACTIVE_TASK_STATUSES, RESERVED_PREFIX, ExecutionMode, Priority, TaskStatus
from agent_agency_cli.orchestration import actor
from agent_agency_cli.procgroup import identity_alive  # /proc, no psutil: control commands start light
from agent_agency_cli.store import Store
from agent_agency_cli.timeutil import parse_deadline

INTERVENTION_TIMEOUT = 15.0
RETRYABLE = frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.PARTIALLY_COMPLETED})


class Control:
    """Interventions on tasks in one data home."""

    def __init__(self, store: Store, *, ensure_daemon: Callable[[], Any],
                 notify: Callable[[str, str], None], settings: Callable[[], Any] = lambda: None):
        self.store = store
        self.settings = settings  # the facade's settings, loaded on first use
        self.ensure_daemon = ensure_daemon
        self.notify = notify  # (hook event, task id): notification hooks, delivered now

    def intervene(self, task_id: str, kind: str, args: dict[str, Any] | None = None,
                  reason: str | None = None) -> str:
        """Apply one intervention through the task's engine, or here when no engine holds it."""
        args = args or {}
        store = self.store
        tid = store.resolve_id(task_id)
        for _ in range(3):
            task = store.get_task(tid)
            status = TaskStatus(task["status"])
            owned = (status in ACTIVE_TASK_STATUSES and task["owner"] is not None
                     and not task["owner"].startswith(RESERVED_PREFIX))  # held: no engine has it
            if owned and identity_alive(task["owner"]):
                return self._send(tid, kind, args, reason)
            if owned:
                # Its engine died: the daemon recovers the task first, then we retry.
                self.ensure_daemon()
                self._wait_recovered(tid, task["owner"])
                continue
            try:
                return self._apply_here(task, kind, args, reason)
            except InvalidTransition:
                continue  # an engine claimed it meanwhile: go through the engine
        raise ConflictError(f"task {tid} kept changing state; try again")

    def _wait_recovered(self, tid: str, dead_owner: str) -> None:
        deadline = time.monotonic() + INTERVENTION_TIMEOUT
        while time.monotonic() < deadline:
            if self.store.get_task(tid)["owner"] != dead_owner:
                return
            time.sleep(0.05)
        raise DaemonError(f"task {tid}'s engine died and the daemon did not recover it; "
                          "see `agent-agency-cli daemon status`")

    def _send(self, tid: str, kind: str, args: dict[str, Any], reason: str | None) -> str:
        """Write the request for the engine and wait for its answer."""
        store = self.store
        iid = store.add_intervention(tid, kind, args, reason, actor.who(), os.getpid())
        deadline = time.monotonic() + INTERVENTION_TIMEOUT
        while time.monotonic() < deadline:
            row = store.get_intervention(iid)
            if row["applied_at"] is not None:
                if row["outcome"] != "applied":
                    raise ConflictError(row["message"])
                return str(row["message"])
            time.sleep(0.01)
        raise DaemonError(
            f"the engine running task {tid} did not apply the {kind} within "
            f"{INTERVENTION_TIMEOUT:g}s; the request stays queued (check `daemon status`)"
        )

    def _apply_here(self, task: Any, kind: str, args: dict[str, Any], reason: str | None) -> str:
        """The same handler the engine uses, on a task no engine holds (its rows only)."""
        store = self.store
        tid = task["id"]
        req = control.Request(kind, args, reason, actor.who())
        iid = store.add_intervention(tid, kind, args, reason, req.who, os.getpid())
        hooks: list[str] = []  # fired once the change is committed, never for a rolled-back one
        target = control.StoredTask(store, task, lambda kind, _tid: hooks.append(kind), self.settings)
        before = target.status
        try:
            with store.atomic():  # all or nothing: an engine may claim the task meanwhile
                message = control.apply(target, req)
        except InvalidTransition:
            store.finish_intervention(iid, tid, "rejected", "the task changed state meanwhile; sent again")
            raise
        except AgencyError as exc:
            store.finish_intervention(iid, tid, "rejected", str(exc))
            raise
        store.finish_intervention(iid, tid, "applied", message)
        for kind in hooks:
            self.notify(kind, tid)
        if target.status is TaskStatus.QUEUED and before is not TaskStatus.QUEUED:
            self.ensure_daemon()  # queued again: a daemon runs it
        return message

    def review(self, task_id: str, *, approve: bool, reason: str, reviewers: list[str]) -> str:
        """Decide a blocking council review (awaiting_review): approve queues the task,
        reject fails it. On a task awaiting a step's approval it approves/rejects that."""
        store = self.store
        tid = store.resolve_id(task_id)
        status = TaskStatus(store.get_task(tid)["status"])
        if status is TaskStatus.AWAITING_APPROVAL:
            return (self.intervene(tid, "approve", {"step": None, "all_remaining": False})
                    if approve else self.intervene(tid, "reject", {"step": None}, reason=reason))
        if status is not TaskStatus.AWAITING_REVIEW:
            raise ConflictError(f"task {tid} is {status}; nothing awaits review")
        person = actor.who()
        if reviewers and person not in reviewers and person.split("@")[0] not in reviewers:
            raise ConflictError(f"{person} is not a reviewer (council.reviewers: {', '.join(reviewers)})")
        store.add_review(tid, phase="initial", kind="human", verdict="approve" if approve else "reject",
                         data={}, reviewer=person, reason=reason)
        if approve:
            store.set_task_status(tid, status, TaskStatus.QUEUED, event=EventKind.TASK_REVIEW_APPROVED,
                                  payload={"who": person, "reason": reason})
            self.ensure_daemon()
            return f"review approved: task {tid} is queued"
        why = f"rejected in review: {reason}"
        store.set_task_status(tid, status, TaskStatus.FAILED, event=EventKind.TASK_FAILED,
                              payload={"reason": why, "who": person}, reason=why,
                              finished_at=time.time(), exit_code=TaskStatus.FAILED.exit_code,
                              completion=json.dumps({"status": "failed", "recoverable": False,
                                                     "reason": why}))
        return f"review rejected: task {tid} failed"

    def retry(self, task_id: str) -> tuple[str, int]:
        """Re-queue a failed or cancelled task: (its id, how many steps will run again)."""
        store = self.store
        tid = store.resolve_id(task_id)
        status = TaskStatus(store.get_task(tid)["status"])
        if status not in RETRYABLE:
            raise ConflictError(f"task {tid} is {status}; only failed or cancelled tasks "
                                "can be retried")
        return tid, store.requeue_task(tid, status, actor.who())


def modify_changes(*, priority: str | None, deadline: str | None, requirements: list[str] | str | None,
                   mode: str | None, max_cpu: int | None, max_memory: str | int | None,
                   models: dict[str, Any] | None = None) -> dict[str, Any]:
    """The row changes of `task modify`, checked; BadInputError names the bad option.
    `models`: a model swap already parsed (engine/hot_swap.parse_model_changes)."""
    changes: dict[str, Any] = {}
    if models:
        changes["models"] = models
    if priority is not None:
        try:
            p = Priority(priority)
        except ValueError:
            raise BadInputError(f"unknown priority {priority!r} "
                                "(low, normal, high, urgent)") from None
        changes.update(priority=p.value, priority_rank=p.rank)
    if deadline is not None:
        changes["deadline"] = parse_deadline(deadline)
    if requirements is not None:
        from agent_agency_cli.request import TaskRequest  # pydantic: only when requirements change

        req = TaskRequest(requirements=requirements).requirements  # type: ignore[arg-type]
        if any(not r for r in req):
            raise BadInputError("requirements: empty item")
        changes["requirements"] = req
    if mode is not None:
        try:
            changes["mode"] = ExecutionMode(mode).value
        except ValueError:
            raise BadInputError(f"unknown mode {mode!r} (auto, strict, dry-run)") from None
    limits: dict[str, Any] = {}
    if max_cpu is not None:
        if max_cpu < 1:
            raise BadInputError("--max-cpu must be at least 1")
        limits["max_cpu"] = max_cpu
    if max_memory is not None:
        from agent_agency_cli.units import parse_size_mb  # pydantic: only when memory changes

        limits["max_memory_mb"] = parse_size_mb(max_memory, minimum=1)
    if limits:
        changes["limits"] = limits
    if not changes:
        raise BadInputError("nothing to modify: give --priority, --deadline, --requirements, "
                            "--mode, --max-cpu, --max-memory or --model")
    return changes

"""Interventions: one handler per kind, the way pueue has one handler per message.

pause, resume, cancel, escalate, modify, override, approve and reject each have one
handler here. A handler acts on a `ControlTarget`: the task's live `TaskRunner` when an
engine holds the task, else a `StoredTask` (its rows only, for tasks no engine holds:
queued, paused before they started, released by a stopped daemon, finished). The rules
(which status allows what, the messages) and the outcome (rows, events, completion,
notification hooks, finished_at) are written once; a target only says what differs —
whether processes are signalled, and where a resumed task goes (running, or the queue).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_agency_cli.errors import ConflictError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import StepStatus, TaskStatus, override_target
from agent_agency_cli.store import Store

T = TaskStatus
S = StepStatus
PAUSABLE = frozenset({T.QUEUED, T.RUNNING, T.AWAITING_APPROVAL})
RESUMABLE = frozenset({T.PAUSED, T.ESCALATED})
ESCALATABLE = frozenset({T.RUNNING, T.PAUSED, T.AWAITING_APPROVAL})
KINDS = ("pause", "resume", "cancel", "escalate", "modify", "override", "approve", "reject")


@dataclass(frozen=True)
class Request:
    """One intervention as a person asked for it (a row of the interventions table)."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    who: str = ""


@dataclass(frozen=True)
class StepInfo:
    status: StepStatus
    attempt: int
    max_attempts: int


class ControlTarget(Protocol):
    """What a handler needs of a task; `TaskRunner` (live) and `StoredTask` provide it."""

    store: Store
    task_id: str
    status: TaskStatus
    live: bool  # an engine runs the task: its steps may have processes
    awaiting: str | None  # the step awaiting a person's decision

    def set_task(self, new: TaskStatus, event: str, payload: dict[str, Any] | None = None,
                 **fields: Any) -> float: ...
    def notify_hooks(self, kind: str) -> None: ...
    def pause_steps(self, now: float) -> list[str]: ...
    def resume_steps(self, now: float) -> None: ...
    def resumed_status(self) -> TaskStatus: ...
    def continue_after(self) -> None: ...
    def stop_for_cancel(self, reason: str) -> None: ...
    def apply_changes(self, changes: dict[str, Any]) -> None: ...
    def swap_models(self, change: dict[str, Any]) -> str: ...
    def step_info(self, name: str) -> StepInfo: ...
    def override_step(self, name: str, new: StepStatus, payload: dict[str, Any],
                      fields: dict[str, Any]) -> None: ...
    def has_interrupted_steps(self) -> bool: ...
    def decide(self, name: str, approved: bool, text: str, all_remaining: bool) -> None: ...
    def preapprove(self, names: list[str]) -> None: ...


# -- outcomes shared by the handlers and the runner's end of a task -------------------


def record_cancelled(t: ControlTarget, reason: str) -> None:
    """The end of a cancelled task, whoever cancelled it: row, event, completion, hook."""
    completion = {"status": "cancelled", "reason": reason}
    t.set_task(T.CANCELLED, EventKind.TASK_CANCELLED, {"reason": reason}, finished_at=time.time(),
               reason=reason, exit_code=T.CANCELLED.exit_code, owner=None,
               completion=json.dumps(completion))
    t.notify_hooks(EventKind.TASK_CANCELLED)


def override_fields(info: StepInfo, new: StepStatus, reason: str | None) -> dict[str, Any]:
    """Row fields of an overridden step: a retry gets one more attempt; skip/succeed finish it."""
    if new is S.PENDING:
        return {"max_attempts": max(info.max_attempts, info.attempt + 1), "overridden": 0}
    return {"overridden": 1, "reason": f"override: {reason}", "finished_at": time.time()}


# -- one handler per kind ----------------------------------------------------------------


def pause(t: ControlTarget, req: Request) -> str:
    if t.status is T.PAUSED:
        raise ConflictError(f"task {t.task_id} is already paused")
    if t.status not in PAUSABLE:
        raise ConflictError(f"task {t.task_id} is {t.status}; nothing to pause")
    now = time.time()
    stopped = t.pause_steps(now)
    t.set_task(T.PAUSED, EventKind.TASK_PAUSED, {"steps": stopped}, paused_at=now)
    if not t.live:
        return f"paused task {t.task_id} (it will not start until resumed)"
    return f"paused task {t.task_id}" + (f" ({len(stopped)} running step(s) stopped)" if stopped else "")


def resume(t: ControlTarget, req: Request) -> str:
    if t.status not in RESUMABLE:
        raise ConflictError(f"task {t.task_id} is {t.status}; nothing to resume")
    now = time.time()
    t.resume_steps(now)
    task = t.store.get_task(t.task_id)  # a plain row: `task resume` is a fast command (no pydantic)
    extra: dict[str, Any] = {}
    if t.status is T.PAUSED and task["paused_at"] and task["started_at"] is not None:
        # only time paused after the start counts: a pause while queued is not elapsed time
        paused_from = max(task["paused_at"], task["started_at"])
        extra = {"paused_total": (task["paused_total"] or 0.0) + max(0.0, now - paused_from)}
    target = t.resumed_status()
    t.set_task(target, EventKind.TASK_RESUMED, {}, paused_at=None, **extra)
    t.continue_after()
    if target is T.QUEUED:
        return f"resumed task {t.task_id} (queued for the daemon)"
    return f"resumed task {t.task_id}"


def cancel(t: ControlTarget, req: Request) -> str:
    """A live task ends once its steps have stopped (the runner records it then, with
    `record_cancelled`); a stored one ends here."""
    t.stop_for_cancel(req.reason or "cancelled")
    return f"cancelled task {t.task_id}"


def escalate(t: ControlTarget, req: Request) -> str:
    if not t.live or t.status not in ESCALATABLE:
        raise ConflictError(f"task {t.task_id} is {t.status}; nothing to escalate")
    if t.status is T.PAUSED:
        resume(t, req)
    t.set_task(T.ESCALATED, EventKind.TASK_ESCALATED, {"reason": req.reason}, reason=req.reason)
    t.notify_hooks(EventKind.TASK_ESCALATED)
    t.continue_after()
    return f"escalated task {t.task_id}: waiting for a person (resume or cancel)"


def modify(t: ControlTarget, req: Request) -> str:
    changes = dict(req.args["changes"])
    # The model of model steps not yet started (engine/hot_swap.py); task columns below.
    swapped = t.swap_models(changes.pop("models")) if "models" in changes else None
    if not changes:
        return f"modified task {t.task_id}: {swapped}"
    task = t.store.get_task(t.task_id)
    old = {k: task[k] for k in changes if k in task.keys()}
    if "limits" in changes:
        current = json.loads(task["limits"] or "{}")
        old["limits"] = current
        changes["limits"] = {**current, **changes["limits"]}
    t.store.update_task_fields(t.task_id, event=EventKind.TASK_MODIFIED, payload={"old": old, "new": changes},
                               **changes)
    t.apply_changes(changes)
    from agent_agency_cli.change_text import describe_changes  # words, never priority_rank or epochs

    shown = describe_changes(changes, old)
    return f"modified task {t.task_id}: " + "; ".join(x for x in (shown, swapped) if x)


def override(t: ControlTarget, req: Request) -> str:
    name, action = req.args["step"], req.args["action"]
    info = t.step_info(name)
    new = override_target(info.status, action, name)
    t.override_step(name, new, {"action": action, "reason": req.reason},
                    override_fields(info, new, req.reason))
    msg = f"step {name}: {action} ({req.reason})"
    if t.status is T.ESCALATED and not t.has_interrupted_steps():
        resume(t, req)
        msg += "; task resumed"
    elif t.status.is_terminal:
        msg += f"; run `agent-agency-cli task retry {t.task_id}` to continue the task"
    t.continue_after()
    return msg


def _awaiting(t: ControlTarget, step: str | None) -> str:
    if t.awaiting is None:
        raise ConflictError(f"task {t.task_id} is {t.status}; no step awaits approval")
    if step is not None and step != t.awaiting:
        t.step_info(step)  # NotFoundError for an unknown step
        raise ConflictError(f"step {step} is not awaiting approval ({t.awaiting} is)")
    return t.awaiting


def _group_of(t: ControlTarget, name: str) -> list[str]:
    """The other steps of `name`'s parallel group that have not started yet."""
    plan = t.store.task_row(t.task_id).plan
    group = next((g for g in plan.get("parallel_groups", []) if name in g), [name])
    return [n for n in group if n != name and t.step_info(n).status in (S.PENDING, S.AWAITING_APPROVAL)]


def approve(t: ControlTarget, req: Request) -> str:
    name = _awaiting(t, req.args.get("step"))
    all_remaining = bool(req.args.get("all_remaining"))
    group = _group_of(t, name) if req.args.get("group") and not all_remaining else []
    if group:  # strict mode, a whole parallel group at once: the others start without asking
        t.preapprove(group)
    if all_remaining:
        t.store.update_task_fields(t.task_id, event=EventKind.APPROVE_ALL, payload={"who": req.who},
                                   approve_all=1)
    decision: dict[str, Any] = {"who": req.who, "all_remaining": all_remaining}
    if group:
        decision["group"] = group
    t.store.add_event(t.task_id, EventKind.STEP_APPROVED, decision, step=name)
    t.decide(name, True, f"approved by {req.who}", all_remaining)
    if group:
        return f"approved steps {', '.join([name, *group])} (parallel group)"
    return f"approved step {name}" + (" and all remaining steps" if all_remaining else "")


def reject(t: ControlTarget, req: Request) -> str:
    name = _awaiting(t, req.args.get("step"))
    t.store.add_event(t.task_id, EventKind.STEP_REJECTED, {"who": req.who, "reason": req.reason}, step=name)
    t.decide(name, False, f"{req.reason} (by {req.who})", False)
    return f"rejected step {name}: {req.reason}"


HANDLERS: dict[str, Callable[[ControlTarget, Request], str]] = {
    "pause": pause, "resume": resume, "cancel": cancel, "escalate": escalate,
    "modify": modify, "override": override, "approve": approve, "reject": reject,
}


def apply(t: ControlTarget, req: Request) -> str:
    """Apply one intervention; ConflictError (exit 5) when the task's state forbids it."""
    handler = HANDLERS.get(req.kind)
    if handler is None:
        raise ConflictError(f"unknown intervention {req.kind!r}")
    if t.status.is_terminal and req.kind != "override":
        raise ConflictError(f"task {t.task_id} is {t.status}; nothing to {req.kind}")
    return handler(t, req)


# -- the target for tasks no engine holds ------------------------------------------------


class StoredTask:
    """A task no engine holds: interventions change its rows, nothing else runs."""

    live = False
    awaiting: str | None = None

    def __init__(self, store: Store, row: Any, notify: Callable[[str, str], None],
                 settings: Callable[[], Any] = lambda: None):
        self.store = store
        self._settings = settings  # loaded only by a model swap
        self.task_id: str = row["id"]
        self.status = TaskStatus(row["status"])
        self._notify = notify

    def set_task(self, new: TaskStatus, event: str, payload: dict[str, Any] | None = None,
                 **fields: Any) -> float:
        now = self.store.set_task_status(self.task_id, self.status, new, event=event,
                                         payload=payload, **fields)
        self.status = new
        return now

    def notify_hooks(self, kind: str) -> None:
        self._notify(kind, self.task_id)

    def pause_steps(self, now: float) -> list[str]:
        return []  # nothing runs

    def resume_steps(self, now: float) -> None:
        return None

    def resumed_status(self) -> TaskStatus:
        return T.QUEUED  # the daemon picks it up

    def continue_after(self) -> None:
        return None

    def stop_for_cancel(self, reason: str) -> None:
        steps = self.store.get_steps(self.task_id)
        before = {s["name"]: StepStatus(s["status"]) for s in steps}
        open_steps = [n for n, st in before.items() if not st.is_finished]
        self.store.set_steps_status(self.task_id, open_steps, before, S.CANCELLED,
                                    event=EventKind.STEP_CANCELLED, payload={"reason": reason})
        record_cancelled(self, reason)

    def apply_changes(self, changes: dict[str, Any]) -> None:
        return None  # the engine that claims it reads the row

    def swap_models(self, change: dict[str, Any]) -> str:
        from agent_agency_cli.engine.hot_swap import swap_models  # only model steps need it

        return swap_models(self.store, self.task_id, change, self._settings())

    def step_info(self, name: str) -> StepInfo:
        row = self.store.get_step(self.task_id, name)
        return StepInfo(StepStatus(row["status"]), row["attempt"], row["max_attempts"])

    def override_step(self, name: str, new: StepStatus, payload: dict[str, Any],
                      fields: dict[str, Any]) -> None:
        old = self.step_info(name).status
        self.store.set_step_status(self.task_id, name, old, new, event=EventKind.STEP_OVERRIDDEN,
                                   payload=payload, **fields)

    def has_interrupted_steps(self) -> bool:
        return any(s["status"] == S.INTERRUPTED.value for s in self.store.get_steps(self.task_id))

    def decide(self, name: str, approved: bool, text: str, all_remaining: bool) -> None:
        raise ConflictError(f"task {self.task_id} is {self.status}; no step awaits approval")

    def preapprove(self, names: list[str]) -> None:
        raise ConflictError(f"task {self.task_id} is {self.status}; no step awaits approval")

"""Enums, the state-transition tables and the shared value types.

The two transition tables below are the single definition of which state
changes are legal; the store refuses anything else (`InvalidTransition`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from agent_agency_cli.errors import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    BadInputError,
    ConflictError,
    InvalidTransition,
)


class Level(StrEnum):
    """The one four-step ranking (low < medium < high < critical) behind every ordered
    scale of the tool: a finding's severity, a task's risk, a validation status and a
    priority are each this ranking under their own names."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for low up to 3 for critical."""
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.LOW: 0, Level.MEDIUM: 1, Level.HIGH: 2, Level.CRITICAL: 3}


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def level(self) -> Level:
        """The priority on the shared ranking (normal is medium, urgent is critical)."""
        return _PRIORITY_LEVEL[self]

    @property
    def rank(self) -> int:
        """Higher runs first."""
        return self.level.rank


_PRIORITY_LEVEL = {Priority.LOW: Level.LOW, Priority.NORMAL: Level.MEDIUM, Priority.HIGH: Level.HIGH,
                   Priority.URGENT: Level.CRITICAL}


class ExecutionMode(StrEnum):
    AUTO = "auto"
    STRICT = "strict"
    DRY_RUN = "dry-run"


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    AWAITING_REVIEW = "awaiting_review"
    AWAITING_APPROVAL = "awaiting_approval"
    ESCALATED = "escalated"
    COMPLETED = "completed"
    PARTIALLY_COMPLETED = "partially_completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_TASK_STATUSES

    @property
    def exit_code(self) -> int | None:
        """Process exit code for a finished task, None while it is not finished."""
        return _TASK_EXIT.get(self)


class StepStatus(StrEnum):
    PENDING = "pending"
    WAITING_RESOURCES = "waiting_resources"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def is_finished(self) -> bool:
        """Finished steps never run again (their outcome is committed)."""
        return self in FINISHED_STEP_STATUSES

    @property
    def is_active(self) -> bool:
        return self in (StepStatus.RUNNING, StepStatus.PAUSED)


TERMINAL_TASK_STATUSES = frozenset(
    {
        TaskStatus.COMPLETED,
        TaskStatus.PARTIALLY_COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    }
)
# Statuses in which an engine owns the task and may have processes running.
ACTIVE_TASK_STATUSES = frozenset(
    {
        TaskStatus.RUNNING,
        TaskStatus.PAUSED,
        TaskStatus.AWAITING_APPROVAL,
        TaskStatus.ESCALATED,
    }
)
# The same set as plain strings, for code that holds statuses as JSON values (the TUI).
TERMINAL_TASK_VALUES = frozenset(s.value for s in TERMINAL_TASK_STATUSES)
FINISHED_STEP_STATUSES = frozenset(
    {StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)

_TASK_EXIT = {
    TaskStatus.COMPLETED: EXIT_OK,
    TaskStatus.PARTIALLY_COMPLETED: EXIT_FAILED,
    TaskStatus.FAILED: EXIT_FAILED,
    TaskStatus.CANCELLED: EXIT_CANCELLED,
}

_T = TaskStatus
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    _T.QUEUED: frozenset({_T.RUNNING, _T.PAUSED, _T.CANCELLED, _T.AWAITING_REVIEW, _T.FAILED}),
    _T.AWAITING_REVIEW: frozenset({_T.QUEUED, _T.CANCELLED, _T.FAILED}),
    _T.RUNNING: frozenset(
        {
            _T.PAUSED,
            _T.AWAITING_APPROVAL,
            _T.ESCALATED,
            _T.QUEUED,  # suspended by a daemon stop or recovered after a crash
            _T.COMPLETED,
            _T.PARTIALLY_COMPLETED,
            _T.FAILED,
            _T.CANCELLED,
        }
    ),
    _T.PAUSED: frozenset({_T.RUNNING, _T.AWAITING_APPROVAL, _T.QUEUED, _T.CANCELLED, _T.FAILED}),
    _T.AWAITING_APPROVAL: frozenset(
        {_T.RUNNING, _T.PAUSED, _T.QUEUED, _T.CANCELLED, _T.FAILED, _T.ESCALATED}
    ),
    _T.ESCALATED: frozenset({_T.RUNNING, _T.AWAITING_APPROVAL, _T.QUEUED, _T.CANCELLED, _T.FAILED}),
    _T.FAILED: frozenset({_T.QUEUED}),  # task retry
    _T.CANCELLED: frozenset({_T.QUEUED}),  # task retry
    _T.PARTIALLY_COMPLETED: frozenset({_T.QUEUED}),
    _T.COMPLETED: frozenset(),
}

_S = StepStatus
STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    _S.PENDING: frozenset(
        {
            _S.RUNNING,
            _S.WAITING_RESOURCES,
            _S.AWAITING_APPROVAL,
            _S.SKIPPED,
            _S.CANCELLED,
            _S.COMPLETED,  # override: succeed
            _S.FAILED,  # could not be started
        }
    ),
    _S.WAITING_RESOURCES: frozenset({_S.RUNNING, _S.PENDING, _S.CANCELLED, _S.SKIPPED}),
    _S.AWAITING_APPROVAL: frozenset(
        {_S.RUNNING, _S.PENDING, _S.SKIPPED, _S.CANCELLED, _S.FAILED, _S.COMPLETED}
    ),
    _S.RUNNING: frozenset(
        {
            _S.COMPLETED,
            _S.FAILED,
            _S.CANCELLED,
            _S.INTERRUPTED,
            _S.PAUSED,
            _S.PENDING,
            _S.AWAITING_APPROVAL,  # strict mode: a gate violation waits for a decision
        }
    ),
    _S.PAUSED: frozenset({_S.RUNNING, _S.CANCELLED, _S.INTERRUPTED, _S.FAILED, _S.COMPLETED}),
    _S.INTERRUPTED: frozenset({_S.PENDING, _S.SKIPPED, _S.COMPLETED, _S.FAILED, _S.CANCELLED}),
    _S.FAILED: frozenset({_S.PENDING, _S.SKIPPED, _S.COMPLETED}),
    _S.SKIPPED: frozenset({_S.PENDING, _S.COMPLETED}),
    _S.CANCELLED: frozenset({_S.PENDING, _S.SKIPPED, _S.COMPLETED}),
    _S.COMPLETED: frozenset(),
}


def check_task_transition(task_id: str, old: TaskStatus, new: TaskStatus) -> None:
    """Raise InvalidTransition unless old -> new is in TASK_TRANSITIONS."""
    if new not in TASK_TRANSITIONS[old]:
        raise InvalidTransition(f"task {task_id} is {old}; it cannot become {new}")


def check_step_transition(task_id: str, step: str, old: StepStatus, new: StepStatus) -> None:
    """Raise InvalidTransition unless old -> new is in STEP_TRANSITIONS."""
    if new not in STEP_TRANSITIONS[old]:
        raise InvalidTransition(f"step {step!r} of task {task_id} is {old}; it cannot become {new}")


def override_target(status: StepStatus, action: str, step: str) -> StepStatus:
    """The status a person's override (skip, succeed, retry) moves a step to;
    ConflictError if the step's state forbids it."""
    if action == "retry":
        if status not in (StepStatus.FAILED, StepStatus.INTERRUPTED, StepStatus.CANCELLED,
                          StepStatus.SKIPPED):
            raise ConflictError(f"step {step} is {status}; only failed, interrupted, cancelled "
                                "or skipped steps can be retried")
        return StepStatus.PENDING
    if action in ("skip", "succeed"):
        new = StepStatus.SKIPPED if action == "skip" else StepStatus.COMPLETED
        if status is new:
            raise ConflictError(f"step {step} is already {new}")
        if status.is_active or status is StepStatus.COMPLETED:
            raise ConflictError(f"step {step} is {status}; it cannot be overridden to {action} "
                                "(pause or cancel it first)")
        return new
    raise BadInputError(f"unknown override action {action!r} (use skip, succeed or retry)")


def progress(by_status: Mapping[str, int]) -> dict[str, Any]:
    """A task's progress from the count of its steps per status. The one derivation the
    status views, the task list and the TUI's live model all use."""
    total = sum(by_status.values())
    done = by_status.get(StepStatus.COMPLETED.value, 0)
    return {"done": done, "total": total, "percent": round(100.0 * done / total, 1) if total else 0.0,
            "by_status": dict(by_status)}


def count_statuses(statuses: Iterable[str]) -> dict[str, int]:
    """{status: how many} of the given step statuses."""
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    return counts

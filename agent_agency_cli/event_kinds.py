"""Every kind of event the engine writes, and the display tables every face shares.

Plain data only (no pydantic, no rich): `task status`, `task watch` and the TUI import it
and must start fast. The payload models live in `responses.py`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from agent_agency_cli.timeutil import iso


class EventKind(StrEnum):
    """The `kind` of a row in the events table."""

    TASK_CREATED = "task_created"
    TASK_STARTED = "task_started"
    TASK_RUNNING = "task_running"
    TASK_PAUSED = "task_paused"
    TASK_RESUMED = "task_resumed"
    TASK_AWAITING_APPROVAL = "task_awaiting_approval"
    TASK_AWAITING_REVIEW = "task_awaiting_review"
    TASK_REVIEW_APPROVED = "task_review_approved"
    TASK_ESCALATED = "task_escalated"
    TASK_MODIFIED = "task_modified"
    TASK_SUSPENDED = "task_suspended"
    TASK_RELEASED = "task_released"
    TASK_RECOVERED = "task_recovered"
    TASK_COMPLETED = "task_completed"
    TASK_PARTIALLY_COMPLETED = "task_partially_completed"
    TASK_FAILED = "task_failed"
    TASK_CANCELLED = "task_cancelled"
    TASK_QUEUED = "task_queued"
    TASK_ARCHIVED = "task_archived"
    TASK_RESTORED = "task_restored"
    TASK_RETRIED = "task_retried"
    STEP_WAITING_RESOURCES = "step_waiting_resources"
    STEP_STARTED = "step_started"
    STEP_PROGRESS = "step_progress"
    STEP_PAUSED = "step_paused"
    STEP_RESUMED = "step_resumed"
    STEP_COMPLETED = "step_completed"
    STEP_FAILED = "step_failed"
    STEP_RETRY = "step_retry"
    STEP_FALLBACK = "step_fallback"
    STEP_SKIPPED = "step_skipped"
    STEP_CANCELLED = "step_cancelled"
    STEP_INTERRUPTED = "step_interrupted"
    STEP_REQUEUED = "step_requeued"
    STEP_OVERRIDDEN = "step_overridden"
    STEP_APPROVED = "step_approved"
    STEP_REJECTED = "step_rejected"
    APPROVE_ALL = "approve_all"  # strict mode: `task approve --all-remaining` (the steps left run unasked)
    STEP_CHECKPOINT = "step_checkpoint"
    STEP_ROLLED_BACK = "step_rolled_back"
    APPROVAL_REQUESTED = "approval_requested"
    GATE_STARTED = "gate_started"
    GATE_RESULT = "gate_result"
    REVIEW_RECORDED = "review_recorded"
    INTERVENTION_REQUESTED = "intervention_requested"
    INTERVENTION_APPLIED = "intervention_applied"
    INTERVENTION_REJECTED = "intervention_rejected"
    DEADLINE_PASSED = "deadline_passed"
    ALERT = "alert"
    TASK_PLANNED = "task_planned"
    PLAN_EDITED = "plan_edited"
    MODEL_SELECTED = "model_selected"
    MODEL_RETRY = "model_retry"
    MODEL_FALLBACK = "model_fallback"
    MODEL_REPAIR = "model_repair"
    MODEL_SWAPPED = "model_swapped"
    TOOL_CALL = "tool_call"
    STORAGE_FAULT = "storage_fault"
    STORAGE_RECOVERED = "storage_recovered"

    @property
    def scope(self) -> str:
        """`task`, `step`, `intervention`, `model` or `other`: the renderers' first split."""
        head = self.value.split("_", 1)[0]
        return head if head in ("task", "step", "intervention", "model") else "other"

    @property
    def word(self) -> str:
        """What happened, in words: `step_waiting_resources` -> `waiting resources`."""
        return self.value.removeprefix(f"{self.scope}_").replace("_", " ")


def kind_of(value: str) -> EventKind | None:
    """The kind of a stored event, or None for one this version does not know (newer rows)."""
    try:
        return EventKind(value)
    except ValueError:
        return None


# One icon per task or step status: the CLI's tables and the TUI show the same marks.
STATUS_ICONS: dict[str, str] = {
    "pending": "◌", "waiting_resources": "◌", "awaiting_approval": "?", "running": "●",
    "paused": "‖", "completed": "✓", "failed": "✗", "skipped": "↷", "cancelled": "⊘",
    "interrupted": "!", "queued": "◌", "awaiting_review": "?", "escalated": "!",
    "partially_completed": "◐",
}

# An approval request's `kind` -> what the person is asked to approve.
APPROVAL_PURPOSE: dict[str, str] = {
    "start": "to run", "gate_violation": "to accept gate violations",
    "manual_review": "for a manual review", "tool_call": "for a tool call",
}

# Events that are noise in a feed of lines (progress ticks): both renderers drop them.
QUIET_KINDS: frozenset[EventKind] = frozenset({EventKind.STEP_PROGRESS})

# Events about models and planners: `cli/model_render.py` words them.
MODEL_KINDS: frozenset[EventKind] = frozenset(
    {k for k in EventKind if k.scope == "model"} | {EventKind.TASK_PLANNED})

# Step events whose payload carries `status` and `reason`: one line "step status: reason".
STEP_ENDINGS: frozenset[EventKind] = frozenset({
    EventKind.STEP_SKIPPED, EventKind.STEP_CANCELLED, EventKind.STEP_INTERRUPTED,
})

# Task events whose payload carries `status` and `reason`.
TASK_ENDINGS_WITH_REASON: frozenset[EventKind] = frozenset({
    EventKind.TASK_FAILED, EventKind.TASK_CANCELLED, EventKind.TASK_ESCALATED,
})

# Fields of a payload that are the engine's own bookkeeping and never shown to a person.
INTERNAL_FIELDS: frozenset[str] = frozenset({"priority_rank"})

# Payload fields that hold a point in time: written as epoch seconds, shown as UTC ISO-8601.
TIME_FIELDS: frozenset[str] = frozenset({
    "deadline", "next_retry_at", "started_at", "finished_at", "paused_at", "created_at", "applied_at",
    "first_ts", "last_ts",
})


def public_payload(payload: Any) -> Any:
    """An event payload as a person (or a client) sees it: times as UTC ISO-8601 strings and
    no internal fields, also inside nested objects (`task_modified`'s old/new). Rows written
    by older versions (epoch floats) read the same."""
    if not isinstance(payload, dict):
        return payload
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key in INTERNAL_FIELDS:
            continue
        if key in TIME_FIELDS and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = iso(value)
        else:
            out[key] = public_payload(value)
    return out

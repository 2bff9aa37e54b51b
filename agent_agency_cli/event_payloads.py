"""Payload models of the events: what `payload` holds for each `EventKind`.

Payloads are stored as JSON and read back as dicts (fast paths never import this module);
these models document them for `agent-agency-cli schema event` and the API, and a test
validates the payloads of real runs against them. Extra keys are allowed: executors and
alerts add details of their own.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent_agency_cli.event_kinds import EventKind, public_payload
from agent_agency_cli.responses import EventView

Timestamp = str  # UTC ISO-8601


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class Empty(_Payload):
    """No fields of its own."""


class TaskCreated(_Payload):
    description: str
    mode: str
    priority: str
    steps: int
    status: str


class TaskEnded(_Payload):
    """A task's status change; `reason` when it failed, was cancelled or escalated."""

    status: str | None = None
    reason: str | None = None
    step: str | None = None
    exit_code: int | None = None


class TaskPaused(_Payload):
    status: str | None = None
    steps: list[str] = Field(default_factory=list, description="The steps that were stopped.")


class TaskModified(_Payload):
    old: dict[str, Any]
    new: dict[str, Any]


class StepStarted(_Payload):
    attempt: int
    max_attempts: int
    worker: str | None = None
    fallback: bool = False


class StepCompleted(_Payload):
    duration: float | None
    exit_code: int | None = None
    result: Any = None
    simulated: bool | None = None


class StepFailed(_Payload):
    reason: str | None
    exit_code: int | None = None
    duration: float | None = None
    attempt: int | None = None
    on_failure: str | None = None


class StepRetry(_Payload):
    reason: str | None
    attempt: int
    max_attempts: int
    exit_code: int | None = None
    delay: float
    next_retry_at: Timestamp | None = Field(None, description="When the next attempt starts.")


class StepStopped(_Payload):
    """A step skipped, cancelled, interrupted, requeued or waiting: why."""

    status: str | None = None
    reason: str | None = None


class StepOverridden(_Payload):
    action: str
    reason: str


class StepDecision(_Payload):
    """A person approved or rejected a step."""

    who: str | None = None
    reason: str | None = None
    all_remaining: bool | None = None
    group: list[str] | None = Field(None, description="approve --group: the other steps of its parallel group")


class ApproveAll(_Payload):
    """`task approve --all-remaining`: the task's remaining steps run without asking."""

    who: str | None = None


class StepProgress(_Payload):
    progress: float | None = None
    message: str | None = None


class ApprovalRequested(_Payload):
    kind: str = Field(..., description="start, gate_violation or manual_review")
    step: str | None = None
    command: Any = None


class GateStarted(_Payload):
    gate: str


class GateResult(_Payload):
    gate: str
    type: str | None = None
    status: str
    score: float | None = None
    required: bool = True
    violations: list[Any] = Field(default_factory=list)


class ReviewRecorded(_Payload):
    phase: str
    kind: str
    verdict: str | None = None
    reviewer: str | None = None
    reason: str | None = None


class Intervention(_Payload):
    id: int
    kind: str
    who: str | None = None
    reason: str | None = None
    args: dict[str, Any] | None = None
    message: str | None = Field(None, description="What applying it did (applied/rejected).")


class DeadlinePassed(_Payload):
    deadline: Timestamp | None


class Alert(_Payload):
    cause: str
    message: str


class TaskPlanned(_Payload):
    source: str = Field(..., description="file, builtin or model: who made the plan")
    model: str | None = None
    steps: int | None = None


class PlanEdited(_Payload):
    steps: int


class ModelSelected(_Payload):
    model: str | None
    fallbacks: list[str] = Field(default_factory=list)
    reasoning: str | None = None


class ModelRetry(_Payload):
    model: str
    reason: str | None = None
    delay: float | None = None
    retry: int | None = None


class ModelFallback(_Payload):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    from_: str | None = Field(None, alias="from")
    to: str | None = None
    reason: str | None = None


class ModelRepair(_Payload):
    model: str
    problems: Any = None


class ModelSwapped(_Payload):
    old: str | None
    new: str
    who: str | None = None


class ToolCall(_Payload):
    """One MCP tool call of an agent step."""

    tool: str
    arguments: Any = None
    status: str = Field(..., description="ok, rejected, refused or error")
    duration: float | None = None
    result_size: int | None = None


_K = EventKind
PAYLOADS: dict[EventKind, type[BaseModel]] = {
    _K.TASK_CREATED: TaskCreated, _K.TASK_MODIFIED: TaskModified, _K.TASK_PAUSED: TaskPaused,
    _K.STEP_STARTED: StepStarted, _K.STEP_COMPLETED: StepCompleted, _K.STEP_FAILED: StepFailed,
    _K.STEP_RETRY: StepRetry, _K.STEP_OVERRIDDEN: StepOverridden, _K.STEP_PROGRESS: StepProgress,
    _K.STEP_APPROVED: StepDecision, _K.STEP_REJECTED: StepDecision, _K.APPROVE_ALL: ApproveAll,
    _K.APPROVAL_REQUESTED: ApprovalRequested, _K.GATE_STARTED: GateStarted, _K.GATE_RESULT: GateResult,
    _K.REVIEW_RECORDED: ReviewRecorded, _K.INTERVENTION_REQUESTED: Intervention,
    _K.INTERVENTION_APPLIED: Intervention, _K.INTERVENTION_REJECTED: Intervention,
    _K.DEADLINE_PASSED: DeadlinePassed, _K.ALERT: Alert,
    _K.TASK_PLANNED: TaskPlanned, _K.PLAN_EDITED: PlanEdited, _K.MODEL_SELECTED: ModelSelected,
    _K.MODEL_RETRY: ModelRetry, _K.MODEL_FALLBACK: ModelFallback, _K.MODEL_REPAIR: ModelRepair,
    _K.MODEL_SWAPPED: ModelSwapped, _K.TOOL_CALL: ToolCall,
}
for _kind in EventKind:
    if _kind not in PAYLOADS:
        PAYLOADS[_kind] = (TaskEnded if _kind.scope == "task" else StepStopped if _kind.scope == "step"
                           else Empty)


def payload_model(kind: EventKind | str) -> type[BaseModel]:
    """The payload model of an event kind (Empty for a kind this version does not know)."""
    try:
        return PAYLOADS[EventKind(kind)]
    except ValueError:
        return Empty


def event_schema() -> dict[str, Any]:
    """JSON Schema of an event: the row (`EventView`), each payload model under `$defs`, and
    `x-payloads`, which names the payload model of every kind."""
    schema = EventView.model_json_schema()
    defs = schema.setdefault("$defs", {})
    for model in set(PAYLOADS.values()):
        sub = model.model_json_schema()
        defs.update(sub.pop("$defs", {}))
        defs[model.__name__] = sub
    schema["x-payloads"] = {k.value: f"#/$defs/{m.__name__}" for k, m in PAYLOADS.items()}
    return schema


class EventPayloadError(ValueError):
    """An event written with a kind that is not an `EventKind`, or a payload that does not match
    its kind's model (raised only where the check is on: see `check_event`)."""


CHECK_ENV = "AGENT_AGENCY_CHECK_EVENTS"


def check_event(kind: str, payload: dict[str, Any] | None) -> None:
    """Fail loudly when an event about to be written drifts from its model: an unknown kind, a
    missing or mistyped field. The payload is checked as readers see it (`public_payload`:
    times as ISO-8601). The store calls this only when $AGENT_AGENCY_CHECK_EVENTS is 1 (the test
    suite sets it), so production writes pay nothing."""


    try:
        model = PAYLOADS[EventKind(kind)]
    except ValueError:
        raise EventPayloadError(f"event kind {kind!r} is not an EventKind: declare it in event_kinds.py "
                                "with a payload model in event_payloads.py") from None
    try:
        model.model_validate(public_payload(payload or {}))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}" for e in exc.errors())
        raise EventPayloadError(f"{kind} event payload does not match {model.__name__} ({problems}): "
                                f"{payload!r}") from None

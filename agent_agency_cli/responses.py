"""The response models: the shape of `task status|list|result|events --json`, of the HTTP
API's bodies and of the MCP tools' results, in one place.

The facade builds plain dicts (so `task status --json` never imports pydantic); these
models describe those dicts, give the API its OpenAPI schema and `agent-agency-cli schema`
its JSON Schema, and a test checks that every key the facade emits is declared here. They
allow extra keys: a field the facade adds later passes through the API instead of being
dropped, and the test names it until it is declared.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import ExecutionMode, Priority, StepStatus, TaskStatus

Timestamp = str  # UTC ISO-8601, e.g. 2026-11-25T19:03:23.690Z


class _View(BaseModel):
    model_config = ConfigDict(extra="allow")


class Progress(_View):
    done: int
    total: int
    percent: float
    by_status: dict[str, int] | None = Field(None, description="Steps per status (status only).")


class GateView(_View):
    gate: str
    name: str | None = None
    required: bool | None = None
    status: str
    score: float | None = None
    violations: Any = None
    attempt: int | None = None
    evidence: list[str] | None = Field(None, description="Files the gate left (reports, tool output).")


class StepView(_View):
    """One step in `task status --json`."""

    name: str
    status: StepStatus
    kind: str | None
    command: Any = None
    description: str | None = None
    needs: list[str]
    attempt: int | None
    max_attempts: int | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    duration: float | None
    estimate: float | None
    timeout: float | None = None
    exit_code: int | None
    reason: str | None
    progress: float | None
    progress_message: str | None
    pid: int | None = None
    overridden: bool | None = None
    worker: str | None = None
    next_retry_at: Timestamp | None = None
    metrics: dict[str, Any] | None = None
    gates: list[GateView] = Field(default_factory=list)
    result: Any = None
    model: dict[str, Any] | None = Field(None, description="Model steps: selection, calls, tokens, cost.")


class PlanView(_View):
    parallel_groups: list[list[str]]
    critical_path: list[str]
    estimated_duration: float | None = None
    concurrency: int | None = None
    learned: dict[str, int] = Field(default_factory=dict, description="Previous runs per step.")
    learned_from: dict[str, str] = Field(default_factory=dict, description="Per step: where its estimate "
                                         "was learned (this step, similar steps).")
    name: str | None = None
    source: str | None = Field(None, description="file, builtin or model: who made the plan.")
    planner_model: str | None = None
    not_planned: list[str] = Field(default_factory=list)


class AttemptView(_View):
    step: str
    attempt: int
    status: str
    worker: str | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    duration: float | None = None
    exit_code: int | None = None
    reason: str | None = None


class InterventionView(_View):
    id: int
    kind: str
    args: dict[str, Any]
    reason: str | None = None
    who: str | None = None
    pid: int | None = None
    created_at: Timestamp | None = None
    applied_at: Timestamp | None = None
    outcome: str | None = None
    message: str | None = None


class StepsShown(_View):
    """Which of the task's steps `steps` holds (progress.by_status counts them all)."""

    selection: Literal["all", "page", "summary"] = Field(
        ..., description="all: every step; page: --limit/--offset of the table; summary: the notable steps "
                         "(running, paused, awaiting approval or resources, failed, interrupted, gate failed).")
    offset: int = Field(0, description="Plan position (0-based) of the first step shown, for a page.")
    count: int = Field(..., description="Steps in `steps`.")
    total: int = Field(..., description="Steps of the task.")
    notable: int | None = Field(None, description="Summary only: how many steps are notable (at most 50 shown).")


class TaskView(_View):
    """`task status --json`: the task, its progress and every step."""

    id: str
    description: str
    status: TaskStatus
    held: bool = Field(False, description="Created with --hold and not released: queued, but no daemon runs it "
                                          "until `task release ID`.")
    mode: ExecutionMode
    priority: Priority
    finished: bool
    requirements: list[str]
    stakeholders: list[str] = Field(default_factory=list, description="Who is told about the task.")
    deadline: Timestamp | None
    deadline_passed: bool | None = None
    created_at: Timestamp | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    paused_at: Timestamp | None = None
    elapsed: float | None
    eta: float | None
    progress: Progress
    exit_code: int | None
    reason: str | None
    failed_step: str | None = None
    workdir: str | None = None
    workspace: str | None = None
    plan_path: str | None = None
    limits: dict[str, Any] = Field(default_factory=dict)
    plan: PlanView | None = None
    complexity: str | None = None
    approval: dict[str, Any] | None = None
    risk: dict[str, Any] | None = None
    review_mode: str | None = None
    completion: dict[str, Any] | None = None
    model_calls: dict[str, Any] | None = Field(None, description="Model-call totals and calls_list[].")
    steps: list[StepView]
    steps_shown: StepsShown | None = Field(None, description="Which steps `steps` holds (--summary, --limit).")
    interventions: list[InterventionView] | None = Field(None, description="With --verbose only.")
    attempts: list[AttemptView] | None = Field(None, description="With --verbose only.")


class TaskSummary(_View):
    """One row of `task list --json`."""

    id: str
    description: str
    status: TaskStatus
    held: bool = Field(False, description="Created with --hold and not released: queued, but no daemon runs it "
                                          "until `task release ID`.")
    priority: Priority
    mode: ExecutionMode
    created_at: Timestamp | None
    age: float | None = None
    elapsed: float | None
    deadline: Timestamp | None
    deadline_passed: bool | None = None
    progress: Progress
    exit_code: int | None


class TaskPage(BaseModel):
    tasks: list[TaskSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="Pass as offset for the next page; null on the last.")


class OutputView(_View):
    step: str
    path: str
    exists: bool
    size: int | None = None
    sha256: str | None = None


class ResultStep(_View):
    name: str
    status: StepStatus
    attempt: int | None
    duration: float | None
    exit_code: int | None
    reason: str | None
    result: Any = None
    metrics: dict[str, Any] | None = None
    model: dict[str, Any] | None = None


class ReviewView(_View):
    phase: str
    kind: str
    verdict: str | None = None
    data: Any = None
    reviewer: str | None = None
    reason: str | None = None
    created_at: Timestamp | None = None


class Scores(_View):
    compliance_score: float | None = None
    quality_score: float | None = None
    requires_followup: bool | None = None


class TaskMetrics(_View):
    """The seed's TaskMetrics."""

    duration: float | None = None
    cpu_usage_percent: float | None = None
    memory_usage_mb: float | None = None
    network_bytes: int | None = None
    storage_bytes: int | None = None
    gpu_memory_mb: float | None = None
    model_calls: int | None = None
    quality_score: float | None = None
    error_count: int | None = None
    retry_count: int | None = None
    steps_total: int | None = None
    steps_completed: int | None = None
    model_cost: float | None = None


class ResultView(_View):
    """`task result --json`: the seed's TaskResult."""

    task_id: str
    status: TaskStatus
    finished: bool
    exit_code: int | None
    reason: str | None
    failed_step: str | None = None
    recoverable: bool | None = None
    gaps: list[Any] = Field(default_factory=list)
    completion_time: Timestamp | None = None
    duration: float | None
    workspace: str | None = None
    archive: str | None = None
    outputs: list[OutputView] = Field(default_factory=list)
    steps: list[ResultStep]
    gates: list[dict[str, Any]] = Field(default_factory=list)
    validation: dict[str, Any] | None = None
    risk: dict[str, Any] | None = None
    reviews: list[ReviewView] = Field(default_factory=list)
    scores: Scores | None = None
    dry_run_report: Any = None
    metrics: TaskMetrics | None = None
    model_calls: dict[str, Any] | None = None
    plan: dict[str, Any] | None = Field(None, description="How the plan was made: source, planner_model, "
                                        "not_planned.")


class EventView(BaseModel):
    """One row of the events table (`task events --json`, the API's event stream)."""

    id: int
    task_id: str
    step: str | None
    kind: EventKind = Field(..., description="See the payload models in this schema's $defs.")
    ts: Timestamp | None
    payload: dict[str, Any]


class LogLine(BaseModel):
    """One line of a step log (`task logs --json`)."""

    ts: str
    step: str
    stream: str
    text: str


class LogPage(BaseModel):
    lines: list[LogLine]
    next_offset: int = Field(..., description="Pass as offset to get only newer lines.")


class ActionResult(BaseModel):
    """What an intervention did: the same sentence the CLI prints."""

    task_id: str
    message: str


class ProgressData(BaseModel):
    """The data of an SSE `event: progress` (the seed's TaskMonitor.onProgress payload)."""

    task_id: str
    progress: float = Field(..., description="Fraction of steps completed, 0.0 to 1.0.")
    overall_progress: float = Field(..., description="Same as progress (the seed's name).")
    percent: float
    current_step: int | None = Field(None, description="1-based plan position of the step running now.")
    current_step_name: str | None = None
    status: TaskStatus
    finished: bool
    eta: float | None = Field(None, description="Seconds left along the critical path (estimate).")
    elapsed: float | None = None
    steps_done: int
    steps_total: int


class Problem(BaseModel):
    """RFC 7807 problem details; `exit_code` is what the CLI would exit with."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    exit_code: int
    instance: str | None = None


def progress_data(status: dict[str, Any]) -> ProgressData:
    """The progress event of a `get_status` dict."""
    prog = status["progress"]
    running = [i for i, s in enumerate(status["steps"]) if s["status"] in ("running", "awaiting_approval",
                                                                             "paused")]
    frac = prog["done"] / prog["total"] if prog["total"] else 0.0
    return ProgressData(
        task_id=status["id"], progress=round(frac, 4), overall_progress=round(frac, 4),
        percent=prog["percent"],
        current_step=running[0] + 1 if running else None,
        current_step_name=status["steps"][running[0]]["name"] if running else None,
        status=status["status"], finished=status["finished"], eta=status["eta"],
        elapsed=status["elapsed"], steps_done=prog["done"], steps_total=prog["total"],
    )

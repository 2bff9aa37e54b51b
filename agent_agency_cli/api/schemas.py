"""Request and response bodies of the HTTP API and the MCP server.

The response models describe the dicts the facade returns (the same objects `--json`
prints: `task status --json`, `task list --json`, `task events --json`, `task result --json`),
so the API, the MCP tools and the CLI render one shape. They allow extra keys: a field the
facade adds later passes through instead of being dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent_agency_cli.models import ExecutionMode, Priority, TaskStatus


class _View(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- requests --------------------------------------------------------------------------------


class TaskCreate(BaseModel):
    """The seed's TaskRequest as JSON, plus the plan to run (the plan-file schema as JSON)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str | None = Field(None, max_length=2000, description="What the task is for.")
    priority: Priority = Priority.NORMAL
    execution_mode: ExecutionMode | None = Field(
        None, alias="execution_mode", description="auto, strict or dry-run (default from config).")
    requirements: list[str] | str = Field(default_factory=list, description="List or comma-separated string.")
    deadline: datetime | str | None = Field(
        None, description="ISO-8601 (2026-12-31T23:59:59Z) or relative (30m, 2h, 1d).")
    stakeholders: list[str] = Field(default_factory=list, max_length=50,
                                    description="Who is told about the task (stored; in its status and hooks).")
    plan: dict[str, Any] | None = Field(
        None, description="The plan inline, as the plan file's YAML would parse: {steps: [...]}; "
                          "omitted: the planner makes one (as `task create` without --plan).")
    concurrency: int | None = Field(None, ge=1, le=1024)
    complexity: Literal["simple", "moderate", "complex", "enterprise"] | None = None

    def request(self) -> dict[str, Any]:
        """The facade's TaskRequest fields."""
        reqs = self.requirements
        return {
            "description": self.description, "plan": self.plan, "mode": self.execution_mode,
            "priority": self.priority, "deadline": self.deadline, "concurrency": self.concurrency,
            "complexity": self.complexity, "stakeholders": self.stakeholders,
            "requirements": [r.strip() for r in reqs.split(",")] if isinstance(reqs, str) else reqs,
        }


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=500)


class RequiredReason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=1, max_length=500)


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: str | None = Field(None, description="The step to approve (default: the one waiting).")
    all_remaining: bool = Field(False, description="Approve every later step of this task too.")


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=1, max_length=500)
    step: str | None = None


class OverrideBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: str = Field(..., min_length=1)
    action: Literal["skip", "succeed", "retry"]
    reason: str = Field(..., min_length=1, max_length=500)


class ModifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    priority: Priority | None = None
    deadline: str | None = Field(None, description="ISO-8601 or relative (30m, 2h, 1d).")
    requirements: list[str] | None = None
    mode: ExecutionMode | None = None
    max_cpu: int | None = Field(None, ge=1, le=4096)
    max_memory: str | None = Field(None, description="512M, 2G, ...", max_length=32)
    models: list[str] | None = Field(None, description="Hot-swap: NAME for every model step not yet "
                                     "started, or STEP=NAME.", max_length=100)


# -- responses -------------------------------------------------------------------------------


class Progress(_View):
    done: int
    total: int
    percent: float
    by_status: dict[str, int] | None = None


class TaskSummary(_View):
    """One row of `task list --json`."""

    id: str
    description: str
    status: TaskStatus
    priority: Priority
    mode: ExecutionMode
    created_at: str | None
    elapsed: float | None
    deadline: str | None
    progress: Progress
    exit_code: int | None


class TaskPage(BaseModel):
    tasks: list[TaskSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="Pass as offset for the next page; null on the last.")


class StepView(_View):
    name: str
    status: str
    kind: str | None
    command: Any = None
    needs: list[str]
    attempt: int | None
    duration: float | None
    estimate: float | None
    progress: float | None
    progress_message: str | None
    exit_code: int | None
    reason: str | None


class TaskView(_View):
    """`task status --json`: the task, its progress and every step."""

    id: str
    description: str
    status: TaskStatus
    mode: ExecutionMode
    priority: Priority
    finished: bool
    requirements: list[str]
    stakeholders: list[str] = []
    deadline: str | None
    elapsed: float | None
    eta: float | None
    progress: Progress
    exit_code: int | None
    reason: str | None
    approval: dict[str, Any] | None = None
    steps: list[StepView]


class ResultView(_View):
    """`task result --json`."""

    task_id: str
    status: TaskStatus
    finished: bool
    exit_code: int | None
    reason: str | None
    duration: float | None
    steps: list[dict[str, Any]]


class EventView(BaseModel):
    """One row of the events table (`task events --json`)."""

    id: int
    task_id: str
    step: str | None
    kind: str
    ts: str | None
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

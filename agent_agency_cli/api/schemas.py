"""Request and response bodies of the HTTP API and the MCP server.

The response models are the shared ones of `agent_agency_cli.responses` (the same shapes
`--json` prints and `agent-agency-cli schema` documents), re-exported here for the routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent_agency_cli.models import ExecutionMode, Priority
from agent_agency_cli.responses import (
    ActionResult,
    EventView,
    LogLine,
    LogPage,
    Problem,
    Progress,
    ProgressData,
    ResultView,
    StepView,
    TaskPage,
    TaskSummary,
    TaskView,
    progress_data,
)

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
    hold: bool = Field(False, description="Store it held (as `task create --hold`): no engine runs it, "
                                          "and a dry run is not simulated, until `POST /tasks/{id}/release`.")

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
    group: bool = Field(False, description="Approve the other steps of its parallel group too (strict mode): "
                                           "they start without asking, as `task approve --group`.")

    @model_validator(mode="after")
    def _one_scope(self) -> ApproveBody:
        if self.group and self.all_remaining:
            raise ValueError("group and all_remaining cannot go together (all_remaining already covers the group)")
        return self


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


__all__ = [
    "ActionResult", "ApproveBody", "EventView", "LogLine", "LogPage", "ModifyBody", "OverrideBody",
    "Problem", "Progress", "ProgressData", "ReasonBody", "RejectBody", "RequiredReason", "ResultView",
    "StepView", "TaskCreate", "TaskPage", "TaskSummary", "TaskView", "progress_data",
]

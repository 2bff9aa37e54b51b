"""TaskRequest: what a caller submits (the seed's TaskRequest plus the plan to run)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent_agency_cli.models import ExecutionMode, Priority


class TaskRequest(BaseModel):
    """What a caller submits: the seed's TaskRequest plus the plan to run."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    plan: str | Path | dict[str, Any] | list[Any] | None = None
    mode: ExecutionMode | None = None
    priority: Priority = Priority.NORMAL
    requirements: list[str] = Field(default_factory=list)
    stakeholders: list[str] = Field(default_factory=list)
    deadline: str | float | datetime | None = None
    workdir: str | Path | None = None
    concurrency: int | None = Field(None, ge=1)
    complexity: Literal["simple", "moderate", "complex", "enterprise"] | None = None

    @field_validator("requirements", "stakeholders", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [r.strip() for r in v.split(",")]
        return v

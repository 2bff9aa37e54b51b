"""TaskRequest: what a caller submits (the seed's TaskRequest plus the plan to run)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent_agency_cli.models import ExecutionMode, Priority
from agent_agency_cli.units import MAX_CONCURRENCY


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
    concurrency: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)
    complexity: Literal["simple", "moderate", "complex", "enterprise"] | None = None

    @field_validator("description", "workdir", "deadline", "requirements", "stakeholders", mode="before")
    @classmethod
    def _no_nul(cls, v: Any) -> Any:
        texts = v if isinstance(v, list) else [v]
        if any(isinstance(t, str | Path) and "\0" in str(t) for t in texts):
            raise ValueError("contains a NUL byte (\\0); remove it")
        return v

    @field_validator("requirements", "stakeholders", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [r.strip() for r in v.split(",")]
        return v

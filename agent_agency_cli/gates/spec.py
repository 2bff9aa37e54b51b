"""GateSpec: how a plan (or the config's per-mode defaults) declares a quality gate."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from agent_agency_cli.units import Duration

GateType = Literal[
    "code_style",
    "security_scan",
    "functional_test",
    "performance_test",
    "integration_test",
    "manual_review",
]


def _gate_shorthand(value: Any) -> Any:
    # `gates: [code_style]` is short for `gates: [{type: code_style}]`.
    return {"type": value} if isinstance(value, str) else value


class GateSpec(BaseModel):
    """One gate on a step. Which keys matter depends on `type` (see README: Quality gates)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: GateType
    name: str | None = None
    required: bool = True  # a failing required gate fails the step; else it is recorded only
    timeout: Duration | None = None
    # code_style / security_scan: files or directories (default: the step's outputs,
    # else its working directory)
    paths: list[str] = []
    select: list[str] = []  # code_style: ruff rule codes to check (default: E, F)
    severity: Literal["low", "medium", "high"] = "low"  # security_scan: lowest that fails
    # functional / integration / performance: the command to run
    command: str | list[str] | None = None
    junit: str | None = None  # functional/integration: JUnit XML written by the command
    depends: list[str] = []  # integration: steps whose outputs it needs
    runs: int = Field(3, ge=1, le=1000)  # performance: how many times
    threshold: float | None = None  # performance: the limit (seconds, or the metric's unit)
    metric: str | None = None  # performance: regex whose first group is the measured number
    compare: Literal["max", "min"] = "max"  # performance: value must be <= (max) or >= (min)
    reviewer: str | None = None  # manual_review
    criteria: list[str] = []  # manual_review

    @property
    def label(self) -> str:
        return self.name or self.type


def parse_gates(value: Any) -> list[GateSpec]:
    """Validate a list of gate declarations (strings are shorthand for {type: ...})."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("'gates' must be a list")
    return [GateSpec.model_validate(_gate_shorthand(v)) for v in value]


GateList = Annotated[list[GateSpec], BeforeValidator(lambda v: [_gate_shorthand(x) for x in v]
                                                      if isinstance(v, list) else v)]

"""What a gate gets (GateContext) and what it gives back (GateResult), and the step verdict."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from agent_agency_cli.gates.spec import GateSpec

DEFAULT_GATE_TIMEOUT = 1800.0  # the config's task_execution.quality_gate_timeout default
MAX_LISTED = 100  # violations / recommendations kept in a result; the report file has them all


class GateStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the gate could not decide: tool missing, timed out, bad gate settings
    PENDING = "pending"  # manual_review: waits for a human decision


@dataclass(frozen=True)
class GateResult:
    """The seed's QualityGateResult for one gate on one step."""

    gate: str  # the gate type: code_style, security_scan, ...
    name: str  # the gate's label (its `name:`, else its type)
    required: bool
    status: GateStatus
    score: float  # 0..1
    violations: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # report files written (absolute paths)
    details: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    started_at: float | None = None  # epoch seconds

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", GateStatus(self.status))  # accept the plain string too

    @property
    def passed(self) -> bool:
        return self.status == GateStatus.PASSED

    @property
    def blocking(self) -> bool:
        """A required gate that has not passed (failed, error, or still pending)."""
        return self.required and not self.passed

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "name": self.name,
            "required": self.required,
            "status": str(self.status),
            "passed": self.passed,
            "score": round(self.score, 4),
            "violations": list(self.violations),
            "recommendations": list(self.recommendations),
            "evidence": list(self.evidence),
            "details": dict(self.details),
            "duration": round(self.duration, 3),
            "started_at": self.started_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateResult:
        return cls(
            gate=data["gate"],
            name=data.get("name") or data["gate"],
            required=bool(data.get("required", True)),
            status=GateStatus(data["status"]),
            score=float(data.get("score") or 0.0),
            violations=list(data.get("violations") or []),
            recommendations=list(data.get("recommendations") or []),
            evidence=list(data.get("evidence") or []),
            details=dict(data.get("details") or {}),
            duration=float(data.get("duration") or 0.0),
            started_at=data.get("started_at"),
        )


@dataclass
class GateContext:
    """Where a gate runs and what it looks at."""

    workspace: Path
    workdir: Path  # the step's working directory; relative gate paths and commands start here
    evidence_dir: Path  # reports go here, e.g. tasks/<id>/gates/<step>/
    outputs: list[Path] = field(default_factory=list)  # the step's declared outputs, resolved
    env: dict[str, str] = field(default_factory=dict)  # laid over os.environ for commands
    timeout: float = DEFAULT_GATE_TIMEOUT  # when the gate gives none
    # Outputs of the task's other finished steps, by step name (integration_test `depends`).
    step_outputs: dict[str, list[Path]] = field(default_factory=dict)
    # Set it (from another thread) to stop a running gate: its processes are killed and
    # the result is an error "cancelled".
    cancel: threading.Event | None = None


def cap(items: Sequence[str], limit: int = MAX_LISTED) -> list[str]:
    """At most `limit` items, the last one saying how many were left out."""
    if len(items) <= limit:
        return list(items)
    return [*items[:limit], f"… and {len(items) - limit} more (see the report)"]


def make_result(
    spec: GateSpec,
    status: GateStatus,
    score: float,
    *,
    violations: Iterable[str] = (),
    recommendations: Iterable[str] = (),
    evidence: Iterable[Path | str] = (),
    details: dict[str, Any] | None = None,
) -> GateResult:
    return GateResult(
        gate=spec.type,
        name=spec.label,
        required=spec.required,
        status=status,
        score=min(1.0, max(0.0, float(score))),
        violations=cap(list(violations)),
        recommendations=cap(list(recommendations)),
        evidence=[str(e) for e in evidence],
        details=details or {},
    )


def error_result(spec: GateSpec, message: str, **kwargs: Any) -> GateResult:
    """The gate could not decide (tool missing, timeout, bad settings): score 0."""
    return make_result(spec, GateStatus.ERROR, 0.0, violations=[message], **kwargs)


def _reason(r: GateResult) -> str:
    if r.status == GateStatus.PENDING:
        who = r.details.get("reviewer")
        return f"{r.name}: awaiting manual review" + (f" by {who}" if who else "")
    first = next((v for v in r.violations), None)
    what = "failed" if r.status == GateStatus.FAILED else "could not run"
    text = f"{r.name} {what}"
    if first:
        text += f": {first}"
        more = len(r.violations) - 1
        if more > 0:
            text += f" (+{more} more)"
    return text


def evaluate(results: Sequence[GateResult]) -> tuple[bool, list[str]]:
    """Whether a step passes its gates, and why not.

    A required gate that failed, errored or is still pending (manual review)
    blocks the step; a failing advisory gate (`required: false`) is only recorded.
    """
    reasons = [_reason(r) for r in results if r.blocking]
    return (not reasons, reasons)

"""Input validation (phase 1): the seed's TaskValidation.

Pure functions, no database or I/O. `validate_task` checks the description, the
requirements, the plan's commands (the scanner of `agent_agency_cli.security`), the
deadline against the estimate and the resource asks against the configured limits.
Every check yields a `Status`; the task's `overall` status is the worst of them.
Messages go through `mask_secrets`. The scanner's names are re-exported here for
callers that knew them here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent_agency_cli.models import Level
from agent_agency_cli.security.masking import mask_secrets
from agent_agency_cli.security.rules import COMMAND_RULES, SECRET_RULES, Category, Rule, Severity
from agent_agency_cli.security.scanner import Finding, scan_plan_steps, scan_text
from agent_agency_cli.security.shell import normalize_command
from agent_agency_cli.units import describe_duration as human_duration

__all__ = [
    "MAX_REQUIREMENT_LENGTH",
    "RULES",
    "Category",
    "CheckResult",
    "Finding",
    "ResourceEstimate",
    "Rule",
    "Severity",
    "Status",
    "TaskValidation",
    "human_duration",
    "mask_secrets",
    "normalize_command",
    "scan_plan_steps",
    "scan_text",
    "status_for",
    "validate_task",
    "worst_status",
]


class Status(StrEnum):
    """The seed's ValidationResult, ordered passed < warning < requires_review < failed
    (the shared low < medium < high < critical ranking)."""

    PASSED = "passed"
    WARNING = "warning"
    REQUIRES_REVIEW = "requires_review"
    FAILED = "failed"

    @property
    def level(self) -> Level:
        return _STATUS_LEVEL[self]

    @property
    def rank(self) -> int:
        return self.level.rank


_STATUS_LEVEL = {Status.PASSED: Level.LOW, Status.WARNING: Level.MEDIUM, Status.REQUIRES_REVIEW: Level.HIGH,
                 Status.FAILED: Level.CRITICAL}
# What a finding of each severity makes of the security scan.
_SEVERITY_STATUS = {Level.LOW: Status.WARNING, Level.MEDIUM: Status.WARNING, Level.HIGH: Status.REQUIRES_REVIEW,
                    Level.CRITICAL: Status.FAILED}


# The rules whose matches are findings (the table's consequential rows only raise the council's risk).
RULES: tuple[Rule, ...] = COMMAND_RULES + SECRET_RULES


def status_for(severity: Level) -> Status:
    """The security scan's status for a finding of this severity (critical fails the task)."""
    return _SEVERITY_STATUS[severity]


def worst_status(statuses: Iterable[Status]) -> Status:
    """failed > requires_review > warning > passed; passed for none."""
    return max(statuses, key=lambda s: s.rank, default=Status.PASSED)


# -- the checks ----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """A check's status and its messages, worst first (each one line, secrets masked)."""

    status: Status = Status.PASSED
    messages: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list, repr=False)  # the messages that failed it

    def to_json(self) -> dict[str, Any]:
        return {"status": str(self.status), "messages": list(self.messages)}


@dataclass(frozen=True)
class ResourceEstimate:
    """The seed's ResourceEstimate: the plan's asks, the limits, and whether they fit."""

    status: Status = Status.PASSED
    messages: list[str] = field(default_factory=list)
    requested: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "messages": list(self.messages),
            "requested": dict(self.requested),
            "limits": dict(self.limits),
        }


class _Collector:
    def __init__(self) -> None:
        self.items: list[tuple[Status, str]] = []

    def add(self, status: Status, message: str) -> None:
        self.items.append((status, mask_secrets(message)))

    def _sorted(self) -> tuple[Status, list[str], list[str]]:
        items = sorted(self.items, key=lambda it: -it[0].rank)  # stable: same-status order kept
        status = worst_status(s for s, _ in items)
        return status, [m for _, m in items], [m for s, m in items if s is Status.FAILED]

    def result(self) -> CheckResult:
        status, messages, failures = self._sorted()
        return CheckResult(status, messages, failures)

    def estimate(self, requested: dict[str, float], limits: dict[str, float]) -> ResourceEstimate:
        status, messages, failures = self._sorted()
        return ResourceEstimate(status, messages, requested, limits, failures)


@dataclass(frozen=True)
class TaskValidation:
    """The seed's TaskValidation plus the scanner's findings; `overall` is the worst check."""

    description_check: CheckResult
    requirements_check: CheckResult
    security_scan: CheckResult
    feasibility_assessment: CheckResult
    resource_requirements: ResourceEstimate
    findings: list[Finding] = field(default_factory=list)

    def _checks(self) -> list[CheckResult | ResourceEstimate]:
        return [self.description_check, self.requirements_check, self.security_scan,
                self.feasibility_assessment, self.resource_requirements]

    @property
    def overall(self) -> Status:
        return worst_status(c.status for c in self._checks())

    @property
    def ok(self) -> bool:
        """True unless a check failed (the task may still need a review)."""
        return self.overall is not Status.FAILED

    def errors(self) -> list[str]:
        """One line per failure, in check order (the CLI prints the first and exits 2)."""
        return [m for c in self._checks() for m in c.failures]

    def to_json(self) -> dict[str, Any]:
        return {
            "overall": str(self.overall),
            "description_check": self.description_check.to_json(),
            "requirements_check": self.requirements_check.to_json(),
            "security_scan": self.security_scan.to_json(),
            "feasibility_assessment": self.feasibility_assessment.to_json(),
            "resource_requirements": self.resource_requirements.to_json(),
            "findings": [f.to_json() for f in self.findings],
        }


MAX_REQUIREMENT_LENGTH = 200
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_RESOURCE_UNITS = {"cpu_cores": "CPU cores", "memory_mb": "MB of memory", "storage_gb": "GB of storage",
                   "gpu_memory_mb": "MB of GPU memory"}


def _num(value: float) -> str:
    return f"{value:g}"


def _check_description(text: str, min_len: int, max_len: int) -> CheckResult:
    c = _Collector()
    stripped = (text or "").strip()
    if not stripped:
        c.add(Status.FAILED, "description is empty")
        return c.result()
    if len(stripped) < min_len:
        c.add(Status.FAILED, f"description is too short: {len(stripped)} characters, at least {min_len}")
    if len(stripped) > max_len:
        c.add(Status.FAILED, f"description is too long: {len(stripped)} characters, at most {max_len}")
    if _CONTROL_RE.search(stripped):
        c.add(Status.FAILED, "description contains control characters")
    visible = [ch.lower() for ch in stripped if not ch.isspace()]
    if not any(ch.isalpha() for ch in visible) or len(set(visible)) == 1:
        c.add(Status.WARNING, "description is not meaningful: no words, only punctuation or one repeated character")
    return c.result()


def _check_requirements(requirements: Sequence[str], max_count: int) -> CheckResult:
    c = _Collector()
    if len(requirements) > max_count:
        c.add(Status.FAILED, f"too many requirements: {len(requirements)}, at most {max_count}")
    seen: dict[str, int] = {}
    for i, req in enumerate(requirements, 1):
        text = (req or "").strip()
        if not text:
            c.add(Status.FAILED, f"requirement {i} is empty")
            continue
        if len(text) > MAX_REQUIREMENT_LENGTH:
            c.add(Status.FAILED,
                  f"requirement {i} is too long: {len(text)} characters, at most {MAX_REQUIREMENT_LENGTH}")
        if _CONTROL_RE.search(text):
            c.add(Status.FAILED, f"requirement {i} contains control characters")
        key = " ".join(text.lower().split())
        if key in seen:
            shown = text if len(text) <= 60 else text[:59] + "…"
            c.add(Status.WARNING, f"requirement {i} repeats requirement {seen[key]} ({shown!r})")
        else:
            seen[key] = i
    return c.result()


def _check_security(findings: list[Finding]) -> CheckResult:
    c = _Collector()
    for f in sorted(findings, key=lambda f: -f.severity.rank):
        c.add(status_for(f.severity), f.line())
    return c.result()


def _check_feasibility(estimated: float | None, deadline: float | None, now: float) -> CheckResult:
    c = _Collector()
    if deadline is None:
        return c.result()
    remaining = deadline - now
    if remaining <= 0:
        c.add(Status.FAILED, f"the deadline is in the past ({human_duration(remaining)} ago)")
    elif estimated is not None and estimated > remaining:
        left, needed = human_duration(remaining), human_duration(estimated)
        if left == needed:  # rounded to the same words: show the difference that matters
            left, needed = f"{remaining:.2f}s", f"{estimated:.2f}s"
        c.add(Status.WARNING, f"the deadline leaves {left} but the plan is estimated to take {needed} "
                              f"(short by {human_duration(estimated - remaining)}); give a later --deadline")
    return c.result()


def warnings_of(validation: Mapping[str, Any] | None) -> list[str]:
    """The warning lines of a stored validation report (its `to_json()`), for people."""
    if not validation:
        return []
    out: list[str] = []
    # The security scan's findings are listed on their own (dry-run report, council review).
    for key in ("description_check", "requirements_check", "feasibility_assessment", "resource_requirements"):
        check = validation.get(key) or {}
        if check.get("status") in ("warning", "requires_review"):
            out.extend(m for m in check.get("messages", []) if m not in out)
    return out


def _check_resources(resources: Mapping[str, float | None], limits: Mapping[str, float]) -> ResourceEstimate:
    # A resource without a configured limit is recorded but not checked.
    c = _Collector()
    requested = {k: float(v) for k, v in resources.items() if v is not None}
    for key, value in requested.items():
        unit = _RESOURCE_UNITS.get(key, key)
        limit = limits.get(f"max_{key}")
        if value < 0:
            c.add(Status.FAILED, f"{key} must not be negative: the plan asks for {_num(value)}")
        elif limit is not None and value > limit:
            c.add(Status.FAILED, f"{key}: the plan asks for {_num(value)} {unit} but the limit is {_num(limit)} "
                                 f"(max_{key})")
    return c.estimate(requested, {k: float(v) for k, v in limits.items()})


def validate_task(
    description: str,
    requirements: list[str],
    steps: list[tuple[str, str]],
    *,
    estimated_duration: float | None,
    deadline: float | None,
    now: float,
    resources: dict[str, float],
    limits: dict[str, float],
    max_description_length: int = 2000,
    min_description_length: int = 3,
    max_requirements: int = 50,
) -> TaskValidation:
    """Run every phase-1 check; nothing is raised, the result says what failed (see `errors()`)."""
    findings = scan_text(description or "", "description")
    for i, req in enumerate(requirements, 1):
        findings.extend(scan_text(req or "", f"requirement {i}"))
    findings.extend(scan_plan_steps(steps))
    return TaskValidation(
        description_check=_check_description(description, min_description_length, max_description_length),
        requirements_check=_check_requirements(requirements, max_requirements),
        security_scan=_check_security(findings),
        feasibility_assessment=_check_feasibility(estimated_duration, deadline, now),
        resource_requirements=_check_resources(resources, limits),
        findings=findings,
    )

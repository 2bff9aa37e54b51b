"""The council's judges: each is a pure function returning the seed's JudgeReview.

Before the task runs: `security_judge`, `resources_judge`, `compliance_judge`.
After it ran: `compliance_judge(..., gate_results=...)` and `quality_judge`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent_agency_cli.council.risk import RiskAssessment, RiskLevel
from agent_agency_cli.security.masking import mask_secrets
from agent_agency_cli.security.rules import Category, Severity
from agent_agency_cli.validation import Status, TaskValidation, human_duration

__all__ = [
    "CATEGORY_ADVICE",
    "REQUIREMENT_GATES",
    "CouncilVerdict",
    "JudgeReview",
    "JudgeVerdict",
    "RequirementCoverage",
    "compliance_judge",
    "coverage_score",
    "gate_score",
    "gate_type_of",
    "latest_gate_results",
    "quality_judge",
    "requirement_coverage",
    "requirement_gate_types",
    "resources_judge",
    "security_judge",
]


class JudgeVerdict(StrEnum):
    APPROVE = "approve"
    CONCERN = "concern"
    REJECT = "reject"

    @property
    def rank(self) -> int:
        return _VERDICT_RANK[self]


_VERDICT_RANK = {JudgeVerdict.APPROVE: 0, JudgeVerdict.CONCERN: 1, JudgeVerdict.REJECT: 2}
CouncilVerdict = JudgeVerdict  # the council's overall verdict uses the same three values


@dataclass(frozen=True)
class JudgeReview:
    judge_id: str
    verdict: JudgeVerdict
    confidence: float  # 0..1
    reasoning: str
    evidence: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "judge_id": self.judge_id,
            "verdict": str(self.verdict),
            "confidence": round(self.confidence, 3),
            "reasoning": self.reasoning,
            "evidence": list(self.evidence),
            "recommendations": list(self.recommendations),
        }


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _sentence(parts: Sequence[str]) -> str:
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(mask_secrets(text).split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# -- security ------------------------------------------------------------------------

CATEGORY_ADVICE: dict[Category, str] = {
    Category.DESTRUCTIVE: "Remove the destructive command or limit it to a path inside the task's workspace.",
    Category.REMOTE_EXEC: "Download the script, verify its checksum or signature, then run the saved file.",
    Category.SYSTEM_WRITE: "Write to the workspace or a user directory instead of a system path.",
    Category.PRIVILEGE: "Run the step without root: drop sudo/su and grant only the access it needs.",
    Category.SECRET: "Move secrets out of the plan into environment variables or a secret store, and rotate them.",
}


def security_judge(validation: TaskValidation, risk: RiskAssessment) -> JudgeReview:
    """reject on a critical finding (or a failed scan); concern on a high finding or high+ risk,
    or on medium findings / medium risk; approve otherwise (low findings get advice)."""
    findings = validation.findings
    worst = max((f.severity.rank for f in findings), default=-1)
    evidence = [f.line() for f in sorted(findings, key=lambda f: -f.severity.rank)]
    # The risk reasons restate each finding; add only the others (commands, keywords, resources).
    restated = tuple(f"{f.where}: {f.message}" for f in findings)
    evidence += [r for r in risk.reasons if not r.startswith(restated)]
    advice = _dedupe(CATEGORY_ADVICE[f.category] for f in findings)
    if worst >= Severity.CRITICAL.rank or validation.security_scan.status is Status.FAILED:
        n = sum(f.severity is Severity.CRITICAL for f in findings)
        return JudgeReview("security", JudgeVerdict.REJECT, 0.95,
                           f"The plan contains {n} critical security finding(s); it must not run as written.",
                           evidence, advice)
    if worst >= Severity.HIGH.rank or risk.level.rank >= RiskLevel.HIGH.rank:
        return JudgeReview("security", JudgeVerdict.CONCERN, 0.8,
                           f"The task is {risk.level} risk; a person should review it before it runs.",
                           evidence, advice or ["Review the consequential commands before approving the task."])
    if worst >= Severity.MEDIUM.rank or risk.level is RiskLevel.MEDIUM:
        return JudgeReview("security", JudgeVerdict.CONCERN, 0.6,
                           "The task is medium risk; it may run while the review is recorded.",
                           evidence, advice or ["Watch the consequential commands while the task runs."])
    return JudgeReview("security", JudgeVerdict.APPROVE, 0.9,
                       "No security finding above low and no consequential commands.", evidence, advice)


# -- resources -----------------------------------------------------------------------

_HEADROOM = 0.8  # an ask at or above 80% of its limit leaves little headroom
_DEADLINE_MARGIN = 1.25  # less than 25% slack over the estimate is tight


def resources_judge(
    resources: Mapping[str, float | None],
    limits: Mapping[str, float],
    estimated_duration: float | None,
    deadline: float | None,
    now: float,
) -> JudgeReview:
    """reject: an ask over its limit, or a deadline already past; concern: a deadline shorter
    than (or within 25% of) the estimate, or an ask at 80%+ of its limit; approve otherwise."""
    rejects: list[str] = []
    concerns: list[str] = []
    evidence: list[str] = []
    recs: list[str] = []
    for key, value in resources.items():
        limit = limits.get(f"max_{key}")
        if value is None or limit is None:
            continue
        evidence.append(f"{key}: asks {value:g} of {limit:g}")
        if value > limit:
            rejects.append(f"the plan asks for {value:g} {key}, over the limit of {limit:g} (max_{key})")
            recs.append(f"Lower the plan's {key} to at most {limit:g} or raise max_{key}.")
        elif limit > 0 and value >= _HEADROOM * limit:
            concerns.append(f"the plan asks for {value:g} {key}, {value / limit:.0%} of the limit of {limit:g}")
    if deadline is not None:
        remaining = deadline - now
        if remaining <= 0:
            rejects.append(f"the deadline passed {human_duration(remaining)} ago")
            recs.append("Set a deadline in the future.")
        elif estimated_duration is not None:
            evidence.append(f"deadline in {human_duration(remaining)}, estimate {human_duration(estimated_duration)}")
            if estimated_duration > remaining:
                concerns.append(f"the deadline leaves {human_duration(remaining)} but the estimate is "
                                f"{human_duration(estimated_duration)}")
                recs.append("Move the deadline, or cut or parallelise steps.")
            elif remaining < _DEADLINE_MARGIN * estimated_duration:
                concerns.append(f"the deadline leaves only {human_duration(remaining - estimated_duration)} of slack")
    if estimated_duration is None:
        evidence.append("no duration estimate")
    if rejects:
        return JudgeReview("resources", JudgeVerdict.REJECT, 0.95, _sentence(rejects),
                           evidence, _dedupe(recs))
    if concerns:
        return JudgeReview("resources", JudgeVerdict.CONCERN, 0.7, _sentence(concerns),
                           evidence, _dedupe(recs))
    confidence = 0.9 if estimated_duration is not None else 0.7
    return JudgeReview("resources", JudgeVerdict.APPROVE, confidence,
                       "The resource asks fit the limits and the schedule fits the deadline.", evidence, [])


# -- compliance ----------------------------------------------------------------------

# Requirement wording -> the gate type that can show it is met. A requirement may map
# to several (“tested and secure”); one that maps to none ("scalable") is not mappable
# and is neither covered nor a gap.
REQUIREMENT_GATES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), gate)
    for p, gate in (
        (r"\b(?:unit|functional)\b|(?<!integration )(?<!integration-)(?<!performance )(?<!load )(?<!perf )"
         r"(?<!stress )(?<!security )\b(?:tests?|tested|testing|test suite|coverage)\b", "functional_test"),
        (r"\b(?:lint\w*|style|styled|format\w*|pep ?8|ruff|flake8|code quality|clean code)\b", "code_style"),
        (r"\b(?:secure|security|vulnerabilit\w*|cves?|bandit|audit\w*)\b", "security_scan"),
        (r"\b(?:fast|faster|quick|performan\w*|latency|throughput|benchmark\w*|speed|p9\d|load tests?)\b",
         "performance_test"),
        (r"\b(?:integration|integrated|end[- ]to[- ]end|e2e|contract tests?)\b", "integration_test"),
        (r"\b(?:review\w*|approved|sign(?:ed)?[- ]off|manual(?:ly)? (?:check\w*|verif\w*)|human)\b", "manual_review"),
    )
)


def requirement_gate_types(requirement: str) -> list[str]:
    """The gate types that can show a requirement is met (empty: not mappable)."""
    return _dedupe(gate for pattern, gate in REQUIREMENT_GATES if pattern.search(requirement or ""))


def gate_type_of(result: Mapping[str, Any]) -> str:
    """A gate result's type: its `type` key, else its `gate` key."""
    return str(result.get("type") or result.get("gate") or "")


def latest_gate_results(gate_results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One result per (step, gate): the last one given wins (earlier attempts are superseded)."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for r in gate_results:
        key = (str(r.get("step", "")), str(r.get("gate", "")))
        latest.pop(key, None)
        latest[key] = r
    return list(latest.values())


@dataclass(frozen=True)
class RequirementCoverage:
    requirement: str
    gate_types: list[str]  # empty: not mappable
    met: bool | None  # None: not mappable
    gap: str | None = None


def requirement_coverage(
    requirements: Sequence[str],
    gates_by_step: Mapping[str, Sequence[str]],
    gate_results: Sequence[Mapping[str, Any]] | None = None,
) -> list[RequirementCoverage]:
    """Whether each requirement is covered.

    Before the run (`gate_results` None) a requirement is covered when every gate type
    it maps to is planned on some step. After the run it is met when every such type
    has at least one result and all results of that type passed.
    """
    planned = {g for gates in gates_by_step.values() for g in gates}
    results = latest_gate_results(gate_results) if gate_results is not None else None
    out: list[RequirementCoverage] = []
    for req in requirements:
        types = requirement_gate_types(req)
        if not types:
            out.append(RequirementCoverage(req, [], None))
            continue
        missing: list[str] = []
        for gate in types:
            if results is None:
                if gate not in planned:
                    missing.append(f"no {gate} gate in the plan")
                continue
            of_type = [r for r in results if gate_type_of(r) == gate]
            bad = [r for r in of_type if r.get("status") != "passed"]
            if not of_type:
                missing.append(f"no {gate} gate " + ("ran" if gate in planned else "in the plan"))
            elif bad:
                missing.extend(f"{gate} on step {r.get('step')!r} {r.get('status') or 'did not pass'}" for r in bad)
        if missing:
            verb = "is not covered" if results is None else "is not met"
            gap = f"requirement {_quote(req)} {verb}: {'; '.join(missing)}"
            out.append(RequirementCoverage(req, types, False, gap))
        else:
            out.append(RequirementCoverage(req, types, True))
    return out


def coverage_score(coverage: Sequence[RequirementCoverage]) -> float:
    """Share of the mappable requirements that are covered; 1.0 when none is mappable."""
    mappable = [c for c in coverage if c.met is not None]
    return 1.0 if not mappable else sum(bool(c.met) for c in mappable) / len(mappable)


def compliance_judge(
    requirements: Sequence[str],
    gates_by_step: Mapping[str, Sequence[str]],
    deadline_feasible: bool,
    *,
    gate_results: Sequence[Mapping[str, Any]] | None = None,
) -> JudgeReview:
    """approve when every mappable requirement is covered (and the deadline is feasible);
    concern otherwise, listing the gaps. It never rejects: a missing gate is a gap to
    report, not a reason to refuse the task."""
    coverage = requirement_coverage(requirements, gates_by_step, gate_results)
    gaps = [c.gap for c in coverage if c.gap]
    evidence = [f"{_quote(c.requirement)} -> {', '.join(c.gate_types)}: {'met' if c.met else 'gap'}"
                for c in coverage if c.met is not None]
    unmapped = [c.requirement for c in coverage if c.met is None]
    if unmapped:
        evidence.append("no gate can check: " + ", ".join(_quote(r) for r in unmapped))
    recs = [f"Add a {g} gate to cover {_quote(c.requirement)}." for c in coverage if c.met is False
            for g in c.gate_types] if gate_results is None else []
    problems = list(gaps)
    if not deadline_feasible:
        problems.append("the deadline does not leave enough time for the plan's estimate")
        recs.append("Move the deadline or shorten the plan.")
    score = coverage_score(coverage)
    if problems:
        return JudgeReview("compliance", JudgeVerdict.CONCERN, 0.75,
                           f"{len(problems)} problem(s): " + "; ".join(problems) + ".", evidence + gaps, _dedupe(recs))
    text = (f"All {sum(c.met is not None for c in coverage)} checkable requirement(s) are covered by gates."
            if score == 1.0 and any(c.met for c in coverage) else "No requirement needs a gate.")
    return JudgeReview("compliance", JudgeVerdict.APPROVE, 0.85, text, evidence, [])


# -- quality (after the run) -------------------------------------------------------


def gate_score(result: Mapping[str, Any]) -> float:
    """The gate's score in 0..1; without one, 1.0 when it passed, else 0.0."""
    score = result.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        return min(1.0, max(0.0, float(score)))
    return 1.0 if result.get("status") == "passed" else 0.0


def quality_judge(step_outcomes: Sequence[Mapping[str, Any]], gate_results: Sequence[Mapping[str, Any]]) -> JudgeReview:
    """reject: a step did not complete (failed, cancelled…) or a required gate did not pass;
    concern: a skipped step, an advisory gate that did not pass, or a mean gate score under 0.8;
    approve otherwise."""
    results = latest_gate_results(gate_results)
    rejects: list[str] = []
    concerns: list[str] = []
    for s in step_outcomes:
        status = s.get("status")
        if status == "skipped":
            concerns.append(f"step {s.get('name')!r} was skipped")
        elif status != "completed":
            rejects.append(f"step {s.get('name')!r} is {status}")
    for r in results:
        if r.get("status") == "passed":
            continue
        text = f"{gate_type_of(r)} on step {r.get('step')!r} {r.get('status')} (score {gate_score(r):.2f})"
        (rejects if r.get("required", True) else concerns).append(("required " if r.get("required", True) else
                                                                   "advisory ") + text)
    mean = sum(gate_score(r) for r in results) / len(results) if results else 1.0
    evidence = [f"{len(step_outcomes)} step(s), {len(results)} gate result(s), mean gate score {mean:.2f}"]
    if results and mean < 0.8 and not rejects:
        concerns.append(f"the mean gate score is {mean:.2f} (under 0.80)")
    if rejects:
        return JudgeReview("quality", JudgeVerdict.REJECT, 0.9, _sentence(rejects),
                           evidence + rejects + concerns, ["Fix the failing steps or gates and retry the task."])
    if concerns:
        return JudgeReview("quality", JudgeVerdict.CONCERN, 0.75, _sentence(concerns),
                           evidence + concerns, ["Look at the advisory gates and skipped steps before relying on "
                                                 "the result."])
    return JudgeReview("quality", JudgeVerdict.APPROVE, 0.9, "Every step completed and every gate passed.",
                       evidence, [])

"""The council's reviews: `initial_review` before the task runs, `final_review` after.

The completion rule (`final_review`), in full:

* ``completed`` when every step's status is ``completed``, every gate result
  (required or advisory; the last result per step and gate) has status ``passed``,
  every gate planned in `gates_by_step` has a result, and every requirement is either
  met by passing gates or maps to no gate type (not mappable);
* ``partially_completed`` otherwise, with one gap per shortfall, in this order:
  steps that did not complete (skipped by an override, or anything else), gates that
  did not pass (required before advisory), planned gates without a result, and
  requirements not met.

The engine calls it only for tasks whose steps all succeeded, so the usual causes of
a partial completion are a failed advisory gate and an unmet requirement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent_agency_cli.council.judges import (
    CouncilVerdict,
    JudgeReview,
    JudgeVerdict,
    compliance_judge,
    coverage_score,
    gate_score,
    gate_type_of,
    latest_gate_results,
    quality_judge,
    requirement_coverage,
    resources_judge,
    security_judge,
)
from agent_agency_cli.council.risk import RiskAssessment
from agent_agency_cli.validation import Status, TaskValidation

__all__ = ["Completion", "CouncilReview", "final_review", "initial_review"]

Completion = Literal["completed", "partially_completed"]


@dataclass(frozen=True)
class CouncilReview:
    overall_verdict: CouncilVerdict
    judge_reviews: dict[str, JudgeReview]
    recommendations: list[str] = field(default_factory=list)
    compliance_score: float = 1.0
    quality_score: float = 1.0
    requires_followup: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "overall_verdict": str(self.overall_verdict),
            "judge_reviews": {k: v.to_json() for k, v in self.judge_reviews.items()},
            "recommendations": list(self.recommendations),
            "compliance_score": round(self.compliance_score, 4),
            "quality_score": round(self.quality_score, 4),
            "requires_followup": self.requires_followup,
        }


def _combine(reviews: Sequence[JudgeReview]) -> tuple[CouncilVerdict, dict[str, JudgeReview], list[str]]:
    verdict = max((r.verdict for r in reviews), key=lambda v: v.rank, default=JudgeVerdict.APPROVE)
    recs = list(dict.fromkeys(rec for r in reviews for rec in r.recommendations))
    return verdict, {r.judge_id: r for r in reviews}, recs


def initial_review(
    validation: TaskValidation,
    risk: RiskAssessment,
    *,
    resources: Mapping[str, float | None],
    limits: Mapping[str, float],
    estimated_duration: float | None,
    deadline: float | None,
    now: float,
    requirements: Sequence[str],
    gates_by_step: Mapping[str, Sequence[str]],
) -> CouncilReview:
    """Security, resources and compliance judges before the task runs.

    overall_verdict is the worst judge's verdict (reject > concern > approve);
    compliance_score is the share of mappable requirements covered by planned gates
    (1.0 when none is mappable); quality_score is the share of steps with at least one
    gate (1.0 for no steps); requires_followup unless every judge approves.
    """
    feasible = validation.feasibility_assessment.status is Status.PASSED
    reviews = [
        security_judge(validation, risk),
        resources_judge(resources, limits, estimated_duration, deadline, now),
        compliance_judge(requirements, gates_by_step, feasible),
    ]
    verdict, by_id, recs = _combine(reviews)
    steps = list(gates_by_step)
    quality = sum(bool(gates_by_step[s]) for s in steps) / len(steps) if steps else 1.0
    return CouncilReview(
        overall_verdict=verdict,
        judge_reviews=by_id,
        recommendations=recs,
        compliance_score=coverage_score(requirement_coverage(requirements, gates_by_step)),
        quality_score=quality,
        requires_followup=verdict is not JudgeVerdict.APPROVE,
    )


def final_review(
    *,
    step_outcomes: Sequence[Mapping[str, Any]],
    gate_results: Sequence[Mapping[str, Any]],
    requirements: Sequence[str],
    gates_by_step: Mapping[str, Sequence[str]],
) -> tuple[CouncilReview, Completion, list[str]]:
    """Compliance and quality judges after the run, the scores, the completion and its gaps.

    step_outcomes: dicts with `name` and `status`. gate_results: dicts with `step`,
    `gate` (its type, or a label plus a `type` key), `required`, `status` (only
    "passed" passes) and `score` (0..1, may be None); the last result per step and gate
    counts. compliance_score: share of mappable requirements met by passing gates (1.0
    when none is mappable). quality_score: the mean gate score (1.0 with no gates)
    times the share of steps that completed.
    """
    results = latest_gate_results(gate_results)
    reviews = [
        compliance_judge(requirements, gates_by_step, True, gate_results=results),
        quality_judge(step_outcomes, results),
    ]
    verdict, by_id, recs = _combine(reviews)

    gaps: list[str] = []
    for s in step_outcomes:
        if s.get("status") != "completed":
            gaps.append(f"step {s.get('name')!r} was {s.get('status')}, not completed")
    failed = [r for r in results if r.get("status") != "passed"]
    failed.sort(key=lambda r: not r.get("required", True))  # required first, stable
    for r in failed:
        kind = "required" if r.get("required", True) else "advisory"
        gaps.append(f"{kind} gate {gate_type_of(r)} on step {r.get('step')!r} {r.get('status')} "
                    f"(score {gate_score(r):.2f})")
    have = {(str(r.get("step")), gate_type_of(r)) for r in results}
    for step, gates in gates_by_step.items():
        for gate in gates:
            if (step, gate) not in have:
                gaps.append(f"gate {gate} on step {step!r} has no result")
    coverage = requirement_coverage(requirements, gates_by_step, results)
    gaps.extend(c.gap for c in coverage if c.gap)

    mean = sum(gate_score(r) for r in results) / len(results) if results else 1.0
    done = sum(s.get("status") == "completed" for s in step_outcomes)
    quality = mean * (done / len(step_outcomes) if step_outcomes else 1.0)
    completion: Completion = "partially_completed" if gaps else "completed"
    review = CouncilReview(
        overall_verdict=verdict,
        judge_reviews=by_id,
        recommendations=recs,
        compliance_score=coverage_score(coverage),
        quality_score=quality,
        requires_followup=bool(gaps) or verdict is not JudgeVerdict.APPROVE,
    )
    return review, completion, gaps

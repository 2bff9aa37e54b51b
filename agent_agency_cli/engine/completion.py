"""Phase 4 for a task whose steps all succeeded: result validation and the council's
final review decide between completed and partially_completed (with the gaps)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_agency_cli.engine.gating import step_gate_specs
from agent_agency_cli.models import TaskStatus

if TYPE_CHECKING:
    from agent_agency_cli.engine.runner import TaskRunner


def complete_task(runner: TaskRunner) -> tuple[TaskStatus, dict[str, Any]]:
    """(final status, completion JSON) and a stored final council review."""
    from agent_agency_cli.council.review import (
        final_review,  # first use only: keeps the daemon's start (and crash recovery) fast
    )

    store = runner.store
    gate_rows = store.gate_results(runner.task_id)
    step_outcomes = [{"name": s.name, "status": s.status.value} for s in runner.steps.values()]
    gates_by_step = {s.name: [g.type for g in step_gate_specs(runner, s)] for s in runner.steps.values()}
    review, completion, gaps = final_review(
        step_outcomes=step_outcomes,
        gate_results=[{"step": g["step"], "gate": g["gate"], "required": bool(g["required"]),
                       "status": g["status"], "score": g["score"]} for g in gate_rows],
        requirements=runner.requirements,
        gates_by_step=gates_by_step,
    )
    data = review.to_json()
    store.add_review(runner.task_id, phase="final", kind="council",
                     verdict=str(data.get("overall_verdict")), data=data)
    status = TaskStatus(completion)
    return status, {"status": status.value, "gaps": gaps,
                    "compliance_score": data.get("compliance_score"),
                    "quality_score": data.get("quality_score"),
                    "requires_followup": data.get("requires_followup")}

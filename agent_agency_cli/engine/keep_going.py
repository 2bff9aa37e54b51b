"""`continue_on_failure: true` (like `make -k`): a step's final failure skips only the steps
that depend on it; independent steps still start, and the task fails once nothing is left."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import StepStatus

if TYPE_CHECKING:
    from agent_agency_cli.engine.runner import TaskRunner
    from agent_agency_cli.engine.step_state import StepState
    from agent_agency_cli.executors.base import StepOutcome


def keep_going(runner: TaskRunner, st: StepState, outcome: StepOutcome) -> None:
    """Record the failure and skip its dependents now (they can never run); the task goes on."""
    runner.kept_going.append((st.name, outcome.reason or "failed"))
    downstream: list[str] = []
    stack = [st.name]
    while stack:
        for dep in runner.steps[stack.pop()].dependents:
            if dep not in downstream:
                downstream.append(dep)
                stack.append(dep)
    blocked = [runner.steps[n] for n in downstream
               if not runner.steps[n].status.is_finished and runner.steps[n].status is StepStatus.PENDING]
    runner._mark(blocked, StepStatus.SKIPPED, EventKind.STEP_SKIPPED, {"reason": f"a dependency failed ({st.name})"})
    runner.notify()


def settle_kept_going(runner: TaskRunner) -> None:
    """At the task's end: the first failure that was kept going makes the task fail (exit 1),
    its reason naming every failed step."""
    if runner.failed_step is not None or not runner.kept_going:
        return
    name, reason = runner.kept_going[0]
    others = [n for n, _ in runner.kept_going[1:]]
    runner.failed_step = name
    runner.failure_reason = f"step {name} failed: {reason}" + (
        f" (also failed: {', '.join(others)})" if others else "")
    runner.failure_recoverable = True

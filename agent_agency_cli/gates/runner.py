"""run_gate: one gate on one step, with real tools. Synchronous; never raises for tool failures."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from agent_agency_cli.gates.code_style import check_code_style
from agent_agency_cli.gates.performance import check_performance
from agent_agency_cli.gates.result import (
    GateContext,
    GateResult,
    GateStatus,
    error_result,
    evaluate,
    make_result,
)
from agent_agency_cli.gates.security import check_security
from agent_agency_cli.gates.spec import GateSpec
from agent_agency_cli.gates.tests_gate import check_functional, check_integration

__all__ = ["CHECKS", "GateContext", "GateResult", "GateStatus", "evaluate", "run_gate", "run_gates"]


def check_manual_review(spec: GateSpec, ctx: GateContext) -> GateResult:
    """Nothing to run: the engine waits for a person's decision (status pending)."""
    criteria = list(spec.criteria) or ["review the step's outputs"]
    return make_result(
        spec, GateStatus.PENDING, 0.0, recommendations=criteria,
        details={"reviewer": spec.reviewer, "criteria": list(spec.criteria)},
    )


CHECKS: dict[str, Callable[[GateSpec, GateContext], GateResult]] = {
    "code_style": check_code_style,
    "security_scan": check_security,
    "functional_test": check_functional,
    "performance_test": check_performance,
    "integration_test": check_integration,
    "manual_review": check_manual_review,
}


def run_gate(spec: GateSpec, ctx: GateContext) -> GateResult:
    """Run one gate and time it. A problem running it is a result with status "error"."""
    started = time.time()
    t0 = time.monotonic()
    try:
        if not ctx.workdir.is_dir():
            result = error_result(spec, f"the step's directory {ctx.workdir} does not exist")
        else:
            result = CHECKS[spec.type](spec, ctx)
    except Exception as exc:  # a bug or an unexpected OS error must not take the engine down
        result = error_result(spec, f"{spec.type} gate crashed: {type(exc).__name__}: {exc}")
    return replace(result, duration=time.monotonic() - t0, started_at=started)


def run_gates(specs: list[GateSpec], ctx: GateContext) -> list[GateResult]:
    """Every gate in order (each runs even when an earlier one failed)."""
    return [run_gate(s, ctx) for s in specs]

"""performance_test: run a command `runs` times and compare the median with a threshold.

Each run measures its wall time in seconds, or with `metric` the first group of
that regex in its stdout. `compare: max` passes when median <= threshold,
`compare: min` when median >= threshold.
Score: max -> min(1, threshold / median); min -> min(1, median / threshold).
"""

from __future__ import annotations

import math
import re
import statistics
import time

from agent_agency_cli.gates.result import GateContext, GateResult, GateStatus, error_result, make_result
from agent_agency_cli.gates.spec import GateSpec
from agent_agency_cli.gates.tools import (
    command_argv,
    evidence_path,
    gate_env,
    gate_timeout,
    run_process,
)
from agent_agency_cli.units import describe_duration


def performance_score(median: float, threshold: float, compare: str) -> float:
    if compare == "max":
        return 1.0 if median <= 0 else min(1.0, threshold / median)
    return 1.0 if threshold <= 0 else max(0.0, min(1.0, median / threshold))


def _number(match: re.Match[str] | None) -> float | None:
    try:
        value = float(match.group(1)) if match else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and math.isfinite(value) else None


def _fmt(value: float, unit: str) -> str:
    return describe_duration(value) if unit == "s" else f"{value:g}"


def check_performance(spec: GateSpec, ctx: GateContext) -> GateResult:
    if spec.command is None:
        return error_result(spec, "performance_test needs a 'command' to measure")
    if spec.threshold is None:
        return error_result(spec, "performance_test needs a 'threshold'")
    pattern: re.Pattern[str] | None = None
    if spec.metric:
        try:
            pattern = re.compile(spec.metric, re.MULTILINE)
        except re.error as exc:
            return error_result(spec, f"bad 'metric' regex {spec.metric!r}: {exc}")
        if pattern.groups < 1:
            return error_result(spec, f"'metric' regex {spec.metric!r} needs a group around the number")
    unit = "s" if pattern is None else "metric"
    argv = command_argv(spec.command)
    env = gate_env(ctx)
    budget = gate_timeout(spec, ctx)
    deadline = time.monotonic() + budget
    measurements: list[float] = []
    details: dict[str, object] = {
        "command": spec.command if isinstance(spec.command, str) else " ".join(argv),
        "runs": spec.runs, "threshold": spec.threshold, "compare": spec.compare,
        "metric": spec.metric, "unit": unit, "measurements": measurements,
    }
    log = evidence_path(spec, ctx, "performance.log")
    with open(log, "w", encoding="utf-8") as out:
        for run in range(1, spec.runs + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                done = f"({run - 1} of {spec.runs} runs done)"
                return error_result(spec, f"timed out after {describe_duration(budget)} {done}",
                                    evidence=[log], details=details)
            proc = run_process(argv, cwd=ctx.workdir, env=env, timeout=left, cancel=ctx.cancel)
            out.write(f"--- run {run}: exit {proc.returncode}, {proc.duration:.4f}s\n{proc.stdout}{proc.stderr}")
            if proc.error:
                what = f"timed out after {describe_duration(budget)}" if proc.timed_out else proc.error
                return error_result(spec, f"run {run}: {what}", evidence=[log], details=details)
            if proc.returncode != 0:
                details["output_tail"] = proc.tail(10)
                return make_result(spec, GateStatus.FAILED, 0.0, evidence=[log], details=details,
                                   violations=[f"run {run} of {spec.runs} exited {proc.returncode}"])
            if pattern is None:
                measurements.append(proc.duration)
                continue
            value = _number(pattern.search(proc.stdout))
            if value is None:
                return error_result(spec, f"run {run}: no number for metric {spec.metric!r} in the output",
                                    evidence=[log], details=details)
            measurements.append(value)
    median = statistics.median(measurements)
    details.update(median=median, min=min(measurements), max=max(measurements))
    ok = median <= spec.threshold if spec.compare == "max" else median >= spec.threshold
    violations = [] if ok else [
        f"median {_fmt(median, unit)} over {spec.runs} runs is "
        f"{'above the maximum' if spec.compare == 'max' else 'below the minimum'} {_fmt(spec.threshold, unit)}"
    ]
    return make_result(
        spec,
        GateStatus.PASSED if ok else GateStatus.FAILED,
        performance_score(median, spec.threshold, spec.compare),
        violations=violations,
        evidence=[log],
        details=details,
    )

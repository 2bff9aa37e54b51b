"""examples/gates-pass.yaml and gates-fail.yaml: valid plans whose gates do what they say.

The steps' shell commands run for real in a temp workspace, in DAG order, and
each step's gates run after it (what the engine does, minus the database).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent_agency_cli.gates.result import GateContext, GateResult, evaluate
from agent_agency_cli.gates.runner import run_gate
from agent_agency_cli.planning.plan_file import Plan, load_plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
AUTOMATIC = {"code_style", "security_scan", "functional_test", "performance_test", "integration_test"}


def _scanner_available() -> bool:
    try:
        import agent_agency_cli.validation  # noqa: F401
    except ImportError:
        return False
    return True


def _run_plan(plan: Plan, ws: Path, evidence: Path) -> dict[str, list[GateResult]]:
    ws.mkdir()
    outputs = {s.name: [ws / o for o in s.outputs] for s in plan.steps}
    by_name = {s.name: s for s in plan.steps}
    results: dict[str, list[GateResult]] = {}
    for group in plan.execution.parallel_groups:
        for name in group:
            step = by_name[name]
            assert isinstance(step.run, str)
            done = subprocess.run(["/bin/sh", "-c", step.run], cwd=ws, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (name, done.stderr)
            ctx = GateContext(workspace=ws, workdir=ws, outputs=outputs[name], evidence_dir=evidence / name,
                              timeout=60, step_outputs=outputs)
            results[name] = [run_gate(spec, ctx) for spec in step.gates]
    return results


def test_gates_pass_example_passes_every_automatic_gate(tmp_path: Path) -> None:
    plan = load_plan(EXAMPLES / "gates-pass.yaml")
    results = _run_plan(plan, tmp_path / "ws", tmp_path / "gates")
    flat = [r for rs in results.values() for r in rs]
    assert {r.gate for r in flat} == AUTOMATIC
    for r in flat:
        assert r.status == "passed", (r.name, r.violations)
        assert r.score == 1.0, r.name
    assert all(evaluate(rs)[0] for rs in results.values())
    scanned = next(r for r in results["write-code"] if r.gate == "security_scan")
    assert scanned.details["python_files"] == 2 and scanned.details["scripts"] == 1


def test_gates_fail_example_fails_every_kind_and_only_one_is_required(tmp_path: Path) -> None:
    plan = load_plan(EXAMPLES / "gates-fail.yaml")
    results = _run_plan(plan, tmp_path / "ws", tmp_path / "gates")
    flat = [r for rs in results.values() for r in rs]
    assert {r.gate for r in flat} == AUTOMATIC
    for r in flat:
        assert r.status == "failed", (r.name, r.status, r.violations)
    assert [r.gate for r in flat if r.required] == ["integration_test"]
    # advisory failures do not block their steps; the required one blocks `verify`
    assert {name: evaluate(rs)[0] for name, rs in results.items()} == {
        "write-code": True, "test": True, "benchmark": True, "package": True, "verify": False}
    assert evaluate(results["verify"])[1] == [
        "integration_test failed: step 'package' output missing: dist/calc.tar.gz"]

    style, security = results["write-code"]
    assert {v.split()[1] for v in style.violations} >= {"E401", "F401"}
    bandit_rules = {v.split()[1] for v in security.violations}
    assert {"B307", "B602"} <= bandit_rules
    if _scanner_available():
        assert any(v.startswith("scripts/install.sh") for v in security.violations), security.violations
    (tests,) = results["test"]
    assert tests.details["tests"]["failed"] == 1 and tests.score == pytest.approx(0.5)
    (perf,) = results["benchmark"]
    assert perf.details["median"] >= 0.3 and perf.score < 0.34

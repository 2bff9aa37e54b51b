"""Quality gates: results, the step verdict, the runner's guarantees, manual review, helpers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest

from agent_agency_cli.gates import runner as gate_runner
from agent_agency_cli.gates.result import (
    MAX_LISTED,
    GateContext,
    GateResult,
    GateStatus,
    evaluate,
    make_result,
)
from agent_agency_cli.gates.runner import run_gate
from agent_agency_cli.gates.spec import GateSpec
from agent_agency_cli.gates.tools import (
    as_pytest,
    command_argv,
    is_shell_script,
    iter_files,
    resolve_targets,
    run_process,
)
from tests.conftest import wait_for


def _ctx(tmp_path: Path, **kw: object) -> GateContext:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    return GateContext(workspace=ws, workdir=ws, evidence_dir=tmp_path / "evidence", **kw)  # type: ignore[arg-type]


def _result(status: str, required: bool = True, violations: list[str] | None = None, **details: object) -> GateResult:
    return GateResult(gate="code_style", name=f"g-{status}", required=required, status=status,  # type: ignore[arg-type]
                      score=1.0 if status == "passed" else 0.0, violations=violations or [], details=dict(details))


# ---- results and the verdict -------------------------------------------------------------


def test_evaluate_required_failure_blocks_but_advisory_failure_does_not() -> None:
    ok, reasons = evaluate([_result("passed"), _result("failed", required=False, violations=["x"])])
    assert ok and reasons == []
    ok, reasons = evaluate([_result("passed"), _result("failed", violations=["a.py:1:1 F401 unused", "b"])])
    assert not ok
    assert reasons == ["g-failed failed: a.py:1:1 F401 unused (+1 more)"]


def test_evaluate_error_and_pending_block_a_required_gate() -> None:
    ok, reasons = evaluate([_result("error", violations=["ruff is not installed: pip install ruff"]),
                            _result("pending", reviewer="ana")])
    assert not ok
    assert reasons == ["g-error could not run: ruff is not installed: pip install ruff",
                       "g-pending: awaiting manual review by ana"]
    assert evaluate([_result("pending", required=False)]) == (True, [])
    assert evaluate([]) == (True, [])


def test_result_json_round_trip_and_plain_status_strings() -> None:
    r = _result("failed", violations=["v"], files=2)
    data = r.to_json()
    assert data["status"] == "failed" and data["passed"] is False and data["details"] == {"files": 2}
    assert GateResult.from_json(data) == r
    assert _result("passed").passed and _result("passed").status is GateStatus.PASSED
    with pytest.raises(ValueError):
        _result("bogus")


def test_make_result_caps_long_lists_and_clamps_the_score() -> None:
    r = make_result(GateSpec(type="code_style", required=False), GateStatus.FAILED, 1.7,
                    violations=[f"v{i}" for i in range(MAX_LISTED + 5)])
    assert len(r.violations) == MAX_LISTED + 1
    assert r.violations[-1] == "… and 5 more (see the report)"
    assert r.score == 1.0 and r.required is False and r.name == "code_style"


# ---- runner ------------------------------------------------------------------------------


def test_manual_review_is_pending_with_the_criteria(tmp_path: Path) -> None:
    spec = GateSpec(type="manual_review", reviewer="ana", criteria=["API is documented", "no secrets"])
    r = run_gate(spec, _ctx(tmp_path))
    assert r.status == "pending" and not r.passed
    assert r.recommendations == ["API is documented", "no secrets"]
    assert r.details["reviewer"] == "ana"
    assert evaluate([r])[0] is False


def test_run_gate_never_raises_and_times_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(spec: GateSpec, ctx: GateContext) -> GateResult:
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(gate_runner.CHECKS, "code_style", boom)
    r = run_gate(GateSpec(type="code_style"), _ctx(tmp_path))
    assert r.status == "error"
    assert r.violations == ["code_style gate crashed: RuntimeError: disk on fire"]
    assert r.started_at is not None and r.duration >= 0


def test_run_gate_reports_a_missing_workdir(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.workdir = tmp_path / "gone"
    r = run_gate(GateSpec(type="functional_test"), ctx)
    assert r.status == "error" and "does not exist" in r.violations[0]


# ---- processes ---------------------------------------------------------------------------


def test_run_process_kills_the_whole_group_at_the_deadline(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    pidfile = tmp_path / "grandchild.pid"
    t0 = time.monotonic()
    # The grandchild keeps the output file open and would write the marker if left alive.
    proc = run_process(["/bin/sh", "-c", f"sh -c 'echo $$ > {pidfile}; sleep 5; touch {marker}' & sleep 5"],
                       cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout=0.3)
    assert proc.timed_out and proc.error == "timed out after 0.3s"
    assert time.monotonic() - t0 < 2
    grandchild = int(pidfile.read_text())
    wait_for(lambda: not psutil.pid_exists(grandchild)
             or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE, timeout=5)
    assert not marker.exists()


def test_run_process_stops_when_cancelled(tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    t0 = time.monotonic()
    proc = run_process(["sleep", "10"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout=30, cancel=cancel)
    assert proc.cancelled and proc.error == "cancelled"
    assert time.monotonic() - t0 < 3


def test_run_process_reports_a_missing_command(tmp_path: Path) -> None:
    proc = run_process(["no-such-tool-xyz"], cwd=tmp_path, env={"PATH": str(tmp_path)}, timeout=5)
    assert proc.returncode is None and proc.error == "no-such-tool-xyz: command not found"


def test_command_argv_and_pytest_detection() -> None:
    assert command_argv("pytest -q tests") == ["pytest", "-q", "tests"]
    assert command_argv("make test && echo ok") == ["/bin/sh", "-c", "make test && echo ok"]
    assert command_argv(["a b", "c"]) == ["a b", "c"]
    import sys

    assert as_pytest(["python3", "-m", "pytest", "-x"]) == [sys.executable, "-m", "pytest", "-x"]
    assert as_pytest(["pytest"]) == [sys.executable, "-m", "pytest"]
    assert as_pytest([".venv/bin/python", "-m", "pytest"]) == [".venv/bin/python", "-m", "pytest"]
    assert as_pytest(["python3", "-m", "unittest"]) is None
    assert as_pytest(["make", "test"]) is None


# ---- choosing files ----------------------------------------------------------------------


def test_targets_default_to_outputs_then_workdir_and_report_missing_paths(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ws = ctx.workdir
    (ws / "pkg").mkdir()
    (ws / "pkg" / "a.py").write_text("x = 1\n")
    assert resolve_targets(GateSpec(type="code_style"), ctx) == ([ws], [])
    ctx.outputs = [ws / "pkg" / "a.py", ws / "out" / "b.py"]
    assert resolve_targets(GateSpec(type="code_style"), ctx) == ([ws / "pkg" / "a.py"], ["out/b.py"])
    spec = GateSpec(type="code_style", paths=["pkg/*.py", "nope", "lib/*.py"])
    assert resolve_targets(spec, ctx) == ([ws / "pkg" / "a.py"], ["nope", "lib/*.py"])


def test_iter_files_skips_hidden_and_tool_directories(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    for rel in ("a.py", "pkg/b.py", ".venv/lib/c.py", "node_modules/d.py", "pkg/__pycache__/e.py",
                "x.egg-info/f.py", ".git/g.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    found = [p.relative_to(root).as_posix() for p in iter_files([root, root / "a.py"])]
    assert found == ["a.py", "pkg/b.py"]


def test_shell_scripts_by_suffix_or_shebang(tmp_path: Path) -> None:
    cases = {"install.sh": "echo hi\n", "deploy": "#!/usr/bin/env bash\necho\n", "run": "#!/bin/sh -e\n",
             "tool": "#!/usr/bin/env python3\n", "notes.txt": "sh\n", "mod.py": "#!/bin/sh\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    assert sorted(n for n in cases if is_shell_script(tmp_path / n)) == ["deploy", "install.sh", "run"]

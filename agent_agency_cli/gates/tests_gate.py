"""functional_test and integration_test: run a test command, read its JUnit XML.

Score: passed / (tests - skipped) from the JUnit report (0 when no test ran);
without a report the exit status decides (1.0 on 0, else 0.0).
"""

from __future__ import annotations

import shlex
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path

from agent_agency_cli.gates.result import GateContext, GateResult, GateStatus, error_result, make_result
from agent_agency_cli.gates.spec import GateSpec
from agent_agency_cli.gates.tools import (
    ToolMissing,
    as_pytest,
    command_argv,
    display,
    evidence_path,
    find_tool,
    gate_env,
    gate_timeout,
    run_process,
)

_MESSAGE_LIMIT = 200


@dataclass
class JUnitSummary:
    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)  # "FAILED tests/test_x.py::test_y: message"

    @property
    def ran(self) -> int:
        return self.tests - self.skipped

    @property
    def score(self) -> float:
        return self.passed / self.ran if self.ran > 0 else 0.0

    def to_json(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("tests", "passed", "failed", "errors", "skipped")}


def node_id(classname: str, name: str, workdir: Path, file: str | None = None) -> str:
    """pytest's node id (`tests/test_x.py::TestA::test_y`) when the module file is found, else
    `classname.name`."""
    if not classname:
        return name
    parts = classname.split(".")
    for k in range(len(parts), 0, -1):
        rel = "/".join(parts[:k]) + ".py"
        if (file and file == rel) or (workdir / rel).is_file():
            return "::".join([rel, *parts[k:], name])
    return f"{classname}.{name}"


def _first_line(text: str | None) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 1] + "…"


def parse_junit(path: Path, workdir: Path) -> JUnitSummary:
    """Counts and failing tests from a JUnit XML file (<testsuites> or <testsuite> root).

    Raises ValueError when the file is not JUnit XML.
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise ValueError(f"cannot read JUnit XML {path}: {exc}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"{path} is not JUnit XML (root element <{root.tag}>)")
    s = JUnitSummary()
    for case in root.iter("testcase"):
        s.tests += 1
        ident = node_id(case.get("classname", ""), case.get("name", "?"), workdir, case.get("file"))
        failure, error = case.find("failure"), case.find("error")
        if failure is not None or error is not None:
            node = failure if failure is not None else error
            assert node is not None
            if failure is not None:
                s.failed += 1
            else:
                s.errors += 1
            msg = _first_line(node.get("message")) or _first_line(node.text)
            s.problems.append(f"{'FAILED' if failure is not None else 'ERROR'} {ident}" + (f": {msg}" if msg else ""))
        elif case.find("skipped") is not None:
            s.skipped += 1
        else:
            s.passed += 1
    return s


def _command_text(command: str | list[str] | None, argv: list[str]) -> str:
    return command if isinstance(command, str) else shlex.join(argv)


def run_test_command(spec: GateSpec, ctx: GateContext, argv: list[str]) -> GateResult:
    """Run argv in the step's directory and judge it by its JUnit report, else its exit status."""
    env = gate_env(ctx)
    # functional_test -> junit.xml, integration_test -> integration-junit.xml (one step may have both)
    report_name = "junit.xml" if spec.type == "functional_test" else "integration-junit.xml"
    pytest_argv = as_pytest(argv)
    if pytest_argv is not None:
        argv = pytest_argv
    junit: Path | None = None
    before: int | None = None
    if spec.junit:
        junit = ctx.workdir / spec.junit
        before = junit.stat().st_mtime_ns if junit.exists() else None
    elif pytest_argv is not None and not any(a.startswith(("--junitxml", "--junit-xml")) for a in argv):
        junit = evidence_path(spec, ctx, report_name)
        junit.unlink(missing_ok=True)
        argv = [*argv, f"--junitxml={junit}"]
    log = evidence_path(spec, ctx, f"{spec.type}.log")
    command = _command_text(spec.command, argv)
    proc = run_process(argv, cwd=ctx.workdir, env=env, timeout=gate_timeout(spec, ctx), cancel=ctx.cancel, log=log)
    evidence: list[Path] = [log]
    details: dict[str, object] = {"command": command, "exit_code": proc.returncode, "duration": proc.duration}
    if proc.error:
        return error_result(spec, f"{command}: {proc.error}", evidence=evidence, details=details)

    summary: JUnitSummary | None = None
    violations: list[str] = []
    fresh = junit is not None and junit.is_file() and junit.stat().st_mtime_ns != before
    if junit is not None and fresh:
        try:
            summary = parse_junit(junit, ctx.workdir)
        except ValueError as exc:
            violations.append(str(exc))
        report = junit
        if spec.junit:  # keep a copy with the other reports: the workspace may be cleaned up
            report = evidence_path(spec, ctx, report_name)
            shutil.copyfile(junit, report)
        evidence.append(report)
        details["junit"] = str(report)
    elif spec.junit:
        violations.append(f"the command did not write its JUnit report {spec.junit}")

    if summary is not None:
        details["tests"] = summary.to_json()
        violations += summary.problems
        if summary.ran == 0:
            violations.append("no tests ran")
        score = summary.score
    else:
        score = 1.0 if proc.returncode == 0 and not violations else 0.0
    if proc.returncode != 0 and not violations:
        violations.append(f"{command} exited {proc.returncode}")
    if violations:
        details["output_tail"] = proc.tail(10)
    recommendations = [f"full output: {log}"] if violations else []
    if summary is not None and summary.failed + summary.errors:
        recommendations.insert(0, f"re-run the failing tests: {_rerun_hint(argv, summary)}")
    return make_result(
        spec,
        GateStatus.FAILED if violations else GateStatus.PASSED,
        score,
        violations=violations,
        recommendations=recommendations,
        evidence=evidence,
        details=details,
    )


def _rerun_hint(argv: list[str], summary: JUnitSummary) -> str:
    ids = [p.split(" ", 1)[1].split(": ", 1)[0] for p in summary.problems[:3]]
    return "pytest " + " ".join(shlex.quote(i) for i in ids) if as_pytest(argv) else ", ".join(ids)


def check_functional(spec: GateSpec, ctx: GateContext) -> GateResult:
    """spec.command, default `python -m pytest -q` in the step's directory."""
    if spec.command is not None:
        return run_test_command(spec, ctx, command_argv(spec.command))
    try:
        tool = find_tool("pytest", gate_env(ctx))
    except ToolMissing as exc:
        return error_result(spec, str(exc))
    return run_test_command(spec, ctx, [*tool, "-q", "-p", "no:cacheprovider"])


def missing_dependencies(spec: GateSpec, ctx: GateContext) -> list[str]:
    """The `depends` steps with no recorded outputs, or whose outputs are not on disk."""
    problems: list[str] = []
    for step in spec.depends:
        if step not in ctx.step_outputs:
            problems.append(f"step {step!r} has not produced its outputs (not finished, or unknown)")
            continue
        for path in ctx.step_outputs[step]:
            if not path.exists():
                problems.append(f"step {step!r} output missing: {display(path, ctx.workdir)}")
    return problems


def check_integration(spec: GateSpec, ctx: GateContext) -> GateResult:
    """Check the `depends` steps' outputs are there, then run spec.command (if any)."""
    problems = missing_dependencies(spec, ctx)
    details: dict[str, object] = {"depends": list(spec.depends)}
    if problems:
        return make_result(
            spec, GateStatus.FAILED, 0.0, violations=problems,
            recommendations=["the test command was not run: its inputs are missing"], details=details,
        )
    if spec.command is None:
        return make_result(spec, GateStatus.PASSED, 1.0, details=details)
    result = run_test_command(spec, ctx, command_argv(spec.command))
    return replace(result, details={**result.details, **details})

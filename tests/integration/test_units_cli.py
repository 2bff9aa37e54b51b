"""Sizes and durations typed at the command line: one parser, one answer, one line on error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from agent_agency_cli.orchestrator import TaskOrchestrator

PLAN = {"steps": [{"name": "a", "run": "true"}]}


@pytest.fixture
def task_id(home: Path) -> str:
    orch = TaskOrchestrator(home=home)
    try:
        return orch.submit_task({"description": "units", "plan": PLAN}, start_daemon=False)
    finally:
        orch.close()


def interventions(home: Path, tid: str) -> list[dict]:
    orch = TaskOrchestrator(home=home)
    try:
        return [dict(r) for r in orch.store.interventions_for(tid)]
    finally:
        orch.close()


@pytest.mark.parametrize(("value", "says"), [
    ("1e3", "bad size '1e3'"),
    ("lots", "bad size 'lots'"),
    ("0", "below 1 MiB"),
    ("9" * 400, "too large"),
])
def test_a_bad_max_memory_is_one_line_exit_2_and_writes_nothing(home: Path, task_id: str, value: str, says: str):
    result = CliRunner().invoke(app, ["task", "modify", task_id, "--max-memory", value])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in result.output
    assert len(lines[0]) < 200  # a 400-digit value is not echoed whole
    assert interventions(home, task_id) == []


def test_512k_is_one_mib_for_max_memory(home: Path, task_id: str):
    result = CliRunner().invoke(app, ["task", "modify", task_id, "--max-memory", "512k"])
    assert result.exit_code == 0, result.output
    [row] = interventions(home, task_id)
    assert json.loads(row["args"])["changes"]["limits"] == {"max_memory_mb": 1}


@pytest.mark.parametrize("value", ["9" * 400, "inf", "1e3", "-1d"])
def test_a_bad_older_than_is_one_line_exit_2(value: str):
    result = CliRunner().invoke(app, ["task", "purge", "--older-than", value])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--older-than" in lines[0] and len(lines[0]) < 200

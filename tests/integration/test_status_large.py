"""`task status --steps` on a task with many steps: every step on its own plain line, and JSON
that parses to the same document (the layout changes past 50,000 characters to stay linear-time)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent_agency_cli.cli.common import dumps_json
from agent_agency_cli.cli.main import app
from agent_agency_cli.orchestrator import TaskOrchestrator

STEPS = 2500  # past both the Rich-table limit (300 rows) and the indented-JSON limit (2,000 items)


def test_status_of_a_big_task_lists_every_step_once_plain_and_as_json(home: Path):
    orch = TaskOrchestrator(home=home)
    try:
        steps = [{"name": f"s{i}", "run": "true"} for i in range(STEPS)]
        steps.append({"name": "last", "run": "true", "needs": ["s0", "s1"]})
        tid = orch.submit_task({"description": "big", "plan": {"steps": steps}}, start_daemon=False)
    finally:
        orch.close()
    plain = CliRunner().invoke(app, ["task", "status", tid, "--steps"])
    assert plain.exit_code == 0, plain.output
    lines = plain.output.splitlines()
    rows = [[w for w in ln.split() if w != "★"] for ln in lines
            if ln.startswith(("s", "last")) and not ln.startswith("step ")]
    assert [r[0] for r in rows] == [*(f"s{i}" for i in range(STEPS)), "last"]
    assert {r[1] for r in rows} == {"pending"}
    assert any(ln.split()[:2] == ["step", "status"] for ln in lines)
    as_json = CliRunner().invoke(app, ["task", "status", tid, "--json", "--steps"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert [s["name"] for s in data["steps"]][-2:] == [f"s{STEPS - 1}", "last"]
    assert data["steps"][-1]["needs"] == ["s0", "s1"]
    assert data["progress"]["total"] == STEPS + 1


def test_large_json_layout_is_the_same_document():
    small = {"a": [1, 2], "b": {"c": None}}
    assert dumps_json(small) == json.dumps(small, indent=2)
    big = {"id": "x", "empty": [], "items": [{"n": i, "s": "é\n"} for i in range(3000)], "d": {"k": [1]}}
    text = dumps_json(big)
    assert json.loads(text) == big
    assert text.count("\n") > 3000  # one item a line, not one giant line

"""A Python step raising SystemExit or KeyboardInterrupt fails its attempt and nothing else:
the engine and the other tasks of the home go on (issue 12, item 1, in-process part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_agency_cli.orchestrator import TaskOrchestrator
from tests.conftest import wait_for

STEPS = '''
import asyncio, sys

def bye(ctx):
    sys.exit(3)

def interrupt(ctx):
    raise KeyboardInterrupt

async def async_bye(ctx):
    await asyncio.sleep(0)
    raise SystemExit("from an async step")

def ok(ctx):
    return {"fine": True}
'''


@pytest.mark.parametrize("fn", ["bye", "interrupt", "async_bye"])
def test_a_step_ending_the_interpreter_fails_only_itself(home: Path, tmp_path: Path, fn: str):
    (tmp_path / "hostile_steps.py").write_text(STEPS)
    plan = {"steps": [{"name": "hostile", "python": f"hostile_steps:{fn}"},
                      {"name": "other", "python": "hostile_steps:ok"}]}
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": plan, "workdir": str(tmp_path)}, start_daemon=False)
        orch.run_foreground(tid)  # before the fix: SystemExit/KeyboardInterrupt escaped from here
        status = orch.get_status(tid)
    steps = {s["name"]: s for s in status["steps"]}
    assert steps["hostile"]["status"] == "failed"
    assert "a step cannot stop the engine" in steps["hostile"]["reason"]
    assert steps["other"]["status"] == "completed"


def test_the_daemon_survives_a_step_calling_sys_exit(cli, write_plan, tmp_path: Path):
    (tmp_path / "hostile_steps.py").write_text(STEPS)
    hostile = write_plan("steps:\n  - {name: hostile, python: 'hostile_steps:bye'}\n", "hostile.yaml")
    fine = write_plan("steps:\n  - {name: fine, python: 'hostile_steps:ok'}\n", "fine.yaml")
    first = cli("task", "create", "--plan", str(hostile), "--wait")
    assert first.returncode == 1, first.stderr
    pid = cli.json("daemon", "status")["pid"]
    second = cli("task", "create", "--plan", str(fine), "--wait")
    assert second.returncode == 0, second.stderr
    assert cli.json("daemon", "status")["pid"] == pid  # the same daemon ran both
    wait_for(lambda: cli.json("task", "status", first.stdout.strip().splitlines()[0])["finished"])

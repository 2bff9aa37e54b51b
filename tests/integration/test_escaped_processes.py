"""Processes that leave the step's process group end with the step, at its end and at
cancel (issue 12, item 3): the daemon is a child subreaper and ends what carries the
step's markers."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux")


def _marked(tid: str) -> list[int]:
    """Live (not zombie) processes whose environment names task `tid`."""
    found = []
    for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if f"AGENT_AGENCY_TASK_ID={tid}".encode() in env and \
                    psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except (OSError, psutil.Error):
            continue
    return found


def test_a_process_that_left_the_group_ends_when_the_step_completes(cli, write_plan, tmp_path: Path):
    flag = tmp_path / "escaped"
    plan = write_plan(f"""
steps:
  - {{name: escape, run: "setsid sh -c 'touch {flag}; exec sleep 300' & sleep 0.5; echo done"}}
""")
    res = cli("task", "create", "--plan", str(plan), "--wait")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip().splitlines()[0]
    assert flag.exists()  # it did escape and run
    wait_for(lambda: not _marked(tid), timeout=20)


def test_a_process_that_left_the_group_ends_at_cancel(cli, write_plan, tmp_path: Path):
    flag = tmp_path / "escaped"
    plan = write_plan(f"""
steps:
  - {{name: escape, run: "setsid sh -c 'touch {flag}; exec sleep 300' & sleep 300"}}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(flag.exists, timeout=20)
    wait_for(lambda: len(_marked(tid)) >= 2, timeout=20)  # the step's shell and the escaped sleep
    res = cli("task", "cancel", tid, "--reason", "stop it all")
    assert res.returncode == 0, res.stderr
    wait_for(lambda: not _marked(tid), timeout=20)


def test_a_foreground_engine_ends_escaped_processes_too(home: Path, tmp_path: Path):
    from agent_agency_cli.orchestrator import TaskOrchestrator

    flag = tmp_path / "escaped"
    plan = {"steps": [{"name": "escape", "run": f"setsid sh -c 'touch {flag}; exec sleep 300' & sleep 0.5"}]}
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": plan}, start_daemon=False)
        assert orch.run_foreground(tid).value == "completed"
    assert flag.exists()
    assert not _marked(tid)

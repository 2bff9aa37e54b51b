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


PY_STEPS = '''
import os, subprocess, time
from pathlib import Path


def leave_children(ctx):
    """A child left running, and one that escaped into its own session via a shell that exited."""
    child = subprocess.Popen(["sleep", "300"])
    Path(ctx.env["FLAGS"], "child").write_text(str(child.pid))
    subprocess.run(["setsid", "sh", "-c", "touch " + ctx.env["FLAGS"] + "/escaped; exec sleep 300"],
                   start_new_session=True, stdin=subprocess.DEVNULL)  # setsid forks: sh runs on
    while not Path(ctx.env["FLAGS"], "escaped").exists():  # the escaped one is under way
        time.sleep(0.01)
    return "left two"


def leave_and_wait(ctx):
    subprocess.Popen(["sleep", "300"])
    Path(ctx.env["FLAGS"], "child").write_text("started")
    while True:
        ctx.checkpoint()
        time.sleep(0.05)
'''


def _python_plan(write_plan, tmp_path: Path, function: str) -> tuple[Path, Path]:
    """A one-step plan running `py_children:<function>`; (its flag folder, the plan)."""
    flags = tmp_path / "flags"
    flags.mkdir()
    (tmp_path / "py_children.py").write_text(PY_STEPS)
    plan = write_plan(f"""
steps:
  - {{name: step, python: "py_children:{function}", env: {{FLAGS: "{flags}"}}}}
""")
    return flags, plan


def test_processes_a_python_step_started_end_with_the_step(cli, write_plan, tmp_path: Path):
    """Issue 12 item 3 for Python steps in worker processes: the worker tells the engine the
    step started processes, and the engine ends whatever carries the step's markers."""
    flags, plan = _python_plan(write_plan, tmp_path, "leave_children")
    res = cli("task", "create", "--plan", str(plan), "--workdir", str(tmp_path), "--wait")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip().splitlines()[0]
    assert (flags / "child").exists() and (flags / "escaped").exists()  # both did start
    wait_for(lambda: not _marked(tid), timeout=20)


def test_processes_a_cancelled_python_step_started_end_with_it(cli, write_plan, tmp_path: Path):
    flags, plan = _python_plan(write_plan, tmp_path, "leave_and_wait")
    tid = cli("task", "create", "--plan", str(plan), "--workdir", str(tmp_path)).stdout.strip()
    wait_for((flags / "child").exists, timeout=20)
    wait_for(lambda: len(_marked(tid)) >= 1, timeout=20)
    res = cli("task", "cancel", tid, "--reason", "stop it all")
    assert res.returncode == 0, res.stderr
    wait_for(lambda: not _marked(tid), timeout=20)

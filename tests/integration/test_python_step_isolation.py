"""Python steps run in worker processes: `os._exit`, a segfault or exhausting memory fails the
step, never the engine (issue 12, item 1); log, progress, checkpoint, pause and cancel cross
the process boundary."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent_agency_cli.orchestrator import TaskOrchestrator
from tests.conftest import pid_alive, wait_for

HOSTILE = '''
import ctypes, os

def hard_exit(ctx):
    os._exit(3)

def segfault(ctx):
    ctypes.string_at(0)

def hog(ctx):
    chunks = []
    for _ in range(64):
        chunks.append(bytearray(64 * 1024 * 1024))  # 4 GiB in all, far past the 300M limit
    return len(chunks)

def ok(ctx):
    return {"fine": True}
'''

WAITING = '''
import os, time

def wait_for_gate(ctx):
    while not os.path.exists(ctx.env["GATE"]):
        ctx.checkpoint()
        time.sleep(0.02)
    return "through"
'''


def _steps(status: dict) -> dict:
    return {s["name"]: s for s in status["steps"]}


def _results(home: Path, task_id: str) -> dict:
    """Each completed step's returned value (the TaskResult, as `task result` shows it)."""
    with TaskOrchestrator(home=home) as orch:
        return {s["name"]: s["result"] for s in orch.result(task_id)["steps"]}


def test_the_daemon_survives_exit_segfault_and_memory_exhaustion(cli, write_plan, tmp_path: Path):
    (tmp_path / "hostile_steps.py").write_text(HOSTILE)
    (tmp_path / "waiting_steps.py").write_text(WAITING)
    gate = tmp_path / "gate"
    calm = write_plan(f"steps:\n  - {{name: calm, python: 'waiting_steps:wait_for_gate', "
                      f"env: {{GATE: '{gate}'}}}}\n", "calm.yaml")
    hostile = {
        "exit": ("hostile_steps:hard_exit", "", "python step worker died: exited with code 3"),
        "segv": ("hostile_steps:segfault", "", "python step worker died: killed by SIGSEGV"),
        "hog": ("hostile_steps:hog", ", resources: {memory: 300M}", "MemoryError"),
    }
    calm_id = cli("task", "create", "--plan", str(calm)).stdout.strip().splitlines()[0]
    cli.wait_status(calm_id, lambda s: _steps(s)["calm"]["status"] == "running")
    pid = cli.json("daemon", "status")["pid"]
    ids = {}
    for name, (ref, extra, _) in hostile.items():
        plan = write_plan(f"steps:\n  - {{name: {name}, python: '{ref}'{extra}}}\n", f"{name}.yaml")
        ids[name] = cli("task", "create", "--plan", str(plan)).stdout.strip().splitlines()[0]
    for name, (_, _, reason) in hostile.items():
        status = cli.wait_status(ids[name], lambda s: s["finished"], timeout=60)
        assert status["status"] == "failed", name
        step = _steps(status)[name]
        assert step["status"] == "failed"
        assert reason in step["reason"], step["reason"]
    # the same engine still runs the other task, which completes once let through
    assert cli.json("daemon", "status")["pid"] == pid and pid_alive(pid)
    assert _steps(cli.status(calm_id))["calm"]["status"] == "running"
    gate.touch()
    done = cli.wait_status(calm_id, lambda s: s["finished"])
    assert done["status"] == "completed"
    assert _results(cli.home, calm_id)["calm"] == "through"


STEPS = '''
import asyncio, os

def report(ctx):
    print("printed by the step")
    ctx.log.info("logged by the step")
    ctx.progress(0.5, "half way")
    ctx.checkpoint()
    return {"pid": os.getpid(), "secret": ctx.env["ANSWER"], "workdir": str(ctx.workdir),
            "attempt": ctx.attempt}

async def in_its_loop(ctx):
    await asyncio.sleep(0)
    return {"pid": os.getpid(), "loop": type(asyncio.get_running_loop()).__name__}

def version(ctx):
    return VERSION
'''


def test_result_log_progress_env_and_async_cross_the_process_boundary(home: Path, tmp_path: Path):
    (tmp_path / "boundary_steps.py").write_text(STEPS + "VERSION = 1\n")
    plan = {"steps": [{"name": "report", "python": "boundary_steps:report", "env": {"ANSWER": "42"}},
                      {"name": "async", "python": "boundary_steps:in_its_loop"},
                      {"name": "version", "python": "boundary_steps:version"}]}
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": plan, "workdir": str(tmp_path)}, start_daemon=False)
        orch.run_foreground(tid)
        status = orch.get_status(tid)
        # an edited module is reloaded by the worker that runs it next
        (tmp_path / "boundary_steps.py").write_text(STEPS + "VERSION = 2\n")
        again = orch.submit_task({"plan": {"steps": [plan["steps"][2]]}, "workdir": str(tmp_path)},
                                 start_daemon=False)
        orch.run_foreground(again)
        second = orch.get_status(again)
        results, second_results = orch.result(tid), orch.result(again)
    assert status["status"] == "completed", status
    steps = _steps(results)
    result = steps["report"]["result"]
    assert result["pid"] != os.getpid()  # it ran in a worker process, not in the engine
    assert result["secret"] == "42" and result["workdir"] == str(tmp_path) and result["attempt"] == 1
    assert steps["async"]["result"]["pid"] != os.getpid()
    assert steps["async"]["result"]["loop"].endswith("EventLoop")
    assert steps["version"]["result"] == 1
    assert second["status"] == "completed"
    assert _steps(second_results)["version"]["result"] == 2
    log = (home / "tasks" / tid / "logs").glob("report*")
    text = "".join(p.read_text() for p in log)
    assert "printed by the step" in text and "logged by the step" in text


def test_progress_reaches_the_status_while_the_step_runs(cli, write_plan, tmp_path: Path):
    gate = tmp_path / "gate"
    (tmp_path / "progress_steps.py").write_text(
        "import os, time\n"
        "def work(ctx):\n"
        "    ctx.progress(0.25, 'a quarter')\n"
        "    while not os.path.exists(ctx.env['GATE']):\n"
        "        ctx.checkpoint()\n"
        "        time.sleep(0.02)\n")
    plan = write_plan(f"steps:\n  - {{name: work, python: 'progress_steps:work', env: {{GATE: '{gate}'}}}}\n")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip().splitlines()[0]
    status = cli.wait_status(tid, lambda s: (_steps(s)["work"].get("progress") or 0) >= 0.25)
    assert _steps(status)["work"]["status"] == "running"
    gate.touch()
    assert cli.wait_status(tid, lambda s: s["finished"])["status"] == "completed"


def _worker_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize("cooperative", [True, False])
def test_pause_stops_the_worker_and_cancel_ends_the_step(cli, write_plan, tmp_path: Path, cooperative: bool):
    pidfile = tmp_path / "worker.pid"
    (tmp_path / "loop_steps.py").write_text(
        "import os, time\n"
        "def spin(ctx):\n"
        f"    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "    while True:\n"
        + ("        ctx.checkpoint()\n" if cooperative else "")
        + "        time.sleep(0.02)\n")
    plan = write_plan("steps:\n  - {name: spin, python: 'loop_steps:spin'}\n")
    cfg = write_plan("task_execution: {cancel_grace_period: 0.5s}\n", "c.yaml")
    cli("--config", str(cfg), "daemon", "start")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip().splitlines()[0]
    wait_for(lambda: pidfile.exists() and pidfile.read_text())
    worker = int(pidfile.read_text())
    engine = cli.json("daemon", "status")["pid"]
    assert worker != engine
    assert cli("task", "pause", tid).returncode == 0
    wait_for(lambda: _worker_state(worker) == "T")  # SIGSTOP'd, not just flagged
    assert cli("task", "resume", tid).returncode == 0
    wait_for(lambda: _worker_state(worker) != "T")
    assert cli("task", "cancel", tid).returncode == 0
    status = cli.wait_status(tid, lambda s: s["finished"])
    assert status["status"] == "cancelled"
    if not cooperative:  # it ignored the request: its worker was killed after the grace period
        wait_for(lambda: not pid_alive(worker))
    assert pid_alive(engine)


def test_isolation_inline_runs_the_step_in_the_engine(home: Path, tmp_path: Path):
    (tmp_path / "where_steps.py").write_text("import os\ndef pid(ctx):\n    return os.getpid()\n")
    plan = {"steps": [{"name": "inline", "python": "where_steps:pid", "isolation": "inline"},
                      {"name": "worker", "python": "where_steps:pid"}]}
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": plan, "workdir": str(tmp_path)}, start_daemon=False)
        orch.run_foreground(tid)
        results = _steps(orch.result(tid))
    assert results["inline"]["result"] == os.getpid()
    assert results["worker"]["result"] != os.getpid()


def test_an_unknown_isolation_is_one_line_and_exit_2(cli, write_plan):
    plan = write_plan("steps:\n  - {name: a, python: 'm:f', isolation: sandbox}\n")
    res = cli("task", "create", "--plan", str(plan))
    assert res.returncode == 2
    assert "isolation" in res.stderr and "Traceback" not in res.stderr
    assert cli.json("task", "list") == []  # nothing stored

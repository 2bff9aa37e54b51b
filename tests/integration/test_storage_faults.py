"""A step log that cannot be written pauses the task with the cause (or fails the step), cancel
and `--wait` still end, and the task resumes once the log can be written (issue 12, item 6).

The seam: the daemon runs with a soft RLIMIT_FSIZE of LIMIT bytes and SIGXFSZ ignored (both
inherited from `daemon start`), so a write past LIMIT fails with EFBIG as a full disk fails
with ENOSPC. "Space returns" when the test raises the daemon's limit (prlimit).
"""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import pid_alive, wait_for

pytestmark = pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)")

LIMIT = 4 * 1024 * 1024  # the step log outgrows it; the database and daemon.log stay far below
NOISY = (f"{sys.executable} -c \"import sys\nfor i in range(90000): print('x' * 60, i)\"")


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))


def _start_limited_daemon(cli, *config: str) -> int:
    res = subprocess.run([*cli.base, *config, "daemon", "start"], env=cli.env(), capture_output=True,
                         text=True, timeout=60, preexec_fn=_limited)
    assert res.returncode == 0, res.stderr
    return int(cli.json("daemon", "status")["pid"])


def _plan(write_plan) -> Path:
    return write_plan(f"steps:\n  - name: noisy\n    run: {json.dumps(NOISY)}\n"
                      "  - {name: after, needs: [noisy], run: 'true'}\n")


def _steps(status: dict) -> dict:
    return {s["name"]: s for s in status["steps"]}


def test_a_full_log_pauses_the_task_and_it_resumes_when_space_returns(cli, write_plan, home: Path):
    pid = _start_limited_daemon(cli)
    tid = cli("task", "create", "--plan", str(_plan(write_plan))).stdout.strip().splitlines()[0]
    status = cli.wait_status(tid, lambda s: s["status"] == "paused", timeout=60)
    assert "writing the log of step noisy failed: File too large (EFBIG)" in status["reason"]
    assert _steps(status)["noisy"]["status"] == "paused"
    plain = cli("task", "status", tid)
    assert plain.returncode == 0 and "File too large" in plain.stdout
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    done = cli.wait_status(tid, lambda s: s["finished"], timeout=60)
    assert done["status"] == "completed"
    assert not done["reason"]
    log = next((home / "tasks" / tid).rglob("noisy.log")).read_text()
    assert re.search(r"^\S+Z sys\| … \d+ line\(s\) lost: writing this log failed \(File too large\)$", log, re.M)
    assert "out| " + "x" * 60 + " 89999\n" in log  # what came after the fault is all there
    events = cli("task", "events", tid, "--json").stdout.splitlines()  # JSON lines
    kinds = [json.loads(line)["kind"] for line in events]
    assert "storage_fault" in kinds and "storage_recovered" in kinds
    assert cli.json("daemon", "status")["pid"] == pid


def test_cancel_and_wait_end_a_task_paused_by_a_full_log(cli, write_plan):
    pid = _start_limited_daemon(cli)
    waiting = cli.popen("task", "create", "--plan", str(_plan(write_plan)), "--wait")
    try:
        def paused_task() -> str | None:
            return next((t["id"] for t in cli.json("task", "list") if t["status"] == "paused"), None)

        tid = str(wait_for(paused_task, timeout=60))
        res = cli("task", "cancel", tid)
        assert res.returncode == 0, res.stderr
        assert waiting.wait(timeout=60) == 4  # --wait ends with the cancelled exit code
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert cli.status(tid)["status"] == "cancelled"
    assert pid_alive(pid)


@pytest.mark.parametrize("policy", ["fail"])
def test_on_write_error_fail_fails_the_step_with_the_cause(cli, write_plan, policy: str):
    cfg = write_plan(f"task_execution: {{on_write_error: {policy}, cancel_grace_period: 0.5s}}\n", "c.yaml")
    pid = _start_limited_daemon(cli, "--config", str(cfg))
    tid = cli("task", "create", "--plan", str(_plan(write_plan))).stdout.strip().splitlines()[0]
    status = cli.wait_status(tid, lambda s: s["finished"], timeout=60)
    assert status["status"] == "failed"
    noisy = _steps(status)["noisy"]
    assert noisy["status"] == "failed"
    assert noisy["reason"] == "storage error: writing the log of step noisy failed: File too large (EFBIG)"
    assert _steps(status)["after"]["status"] == "skipped"
    assert pid_alive(pid)


def _ignore_xfsz() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_database_that_cannot_be_written_resumes_the_task_when_space_returns(cli, write_plan, tmp_path, home):
    """The daemon's limit is lowered to the WAL's size while a step runs: the step's completion
    cannot be committed (EFBIG -> SQLITE_IOERR). The task must not fail or hang: the engine
    waits, and once the limit is raised it hands the task back and finishes it."""
    gate = tmp_path / "gate"
    (tmp_path / "db_steps.py").write_text(
        "import os, time\n"
        "def wait(ctx):\n"
        "    while not os.path.exists(ctx.env['GATE']):\n"
        "        ctx.checkpoint()\n"
        "        time.sleep(0.02)\n"
        "    return 'done'\n")
    plan = write_plan(f"steps:\n  - {{name: w, python: 'db_steps:wait', idempotent: true, env: {{GATE: '{gate}'}}}}\n"
                      "  - {name: after, needs: [w], run: 'true'}\n")
    res = subprocess.run([*cli.base, "daemon", "start"], env=cli.env(), capture_output=True, text=True,
                         timeout=60, preexec_fn=_ignore_xfsz)
    assert res.returncode == 0, res.stderr
    pid = int(cli.json("daemon", "status")["pid"])
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip().splitlines()[0]
    cli.wait_status(tid, lambda s: _steps(s)["w"]["status"] == "running")
    wal = home / "agency.db-wal"
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (wal.stat().st_size, resource.RLIM_INFINITY))
    gate.touch()
    daemon_log = home / "daemon.log"
    wait_for(lambda: "waiting for space to resume it" in daemon_log.read_text(), timeout=60)
    status = cli.status(tid)
    assert status["status"] == "running" and not status["finished"]  # neither failed nor lost
    assert pid_alive(pid)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    done = cli.wait_status(tid, lambda s: s["finished"], timeout=60)
    assert done["status"] == "completed", done
    events = [json.loads(line)["kind"] for line in cli("task", "events", tid, "--json").stdout.splitlines()]
    assert "storage_fault" in events and "task_recovered" in events
    assert cli.json("daemon", "status")["pid"] == pid


def test_a_cancel_sent_while_the_database_cannot_be_written_is_applied_when_space_returns(
        cli, write_plan, tmp_path, home):
    gate = tmp_path / "gate"
    plan = write_plan(f"steps:\n  - {{name: w, run: 'while [ ! -e {gate} ]; do sleep 0.02; done'}}\n"
                      "  - {name: after, needs: [w], run: 'true'}\n")
    res = subprocess.run([*cli.base, "daemon", "start"], env=cli.env(), capture_output=True, text=True,
                         timeout=60, preexec_fn=_ignore_xfsz)
    assert res.returncode == 0, res.stderr
    pid = int(cli.json("daemon", "status")["pid"])
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip().splitlines()[0]
    cli.wait_status(tid, lambda s: _steps(s)["w"]["status"] == "running")
    resource.prlimit(pid, resource.RLIMIT_FSIZE, ((home / "agency.db-wal").stat().st_size, resource.RLIM_INFINITY))
    gate.touch()  # the step ends: committing that fails, and the task's runner with it
    wait_for(lambda: "waiting for space to resume it" in (home / "daemon.log").read_text(), timeout=60)
    cancel = cli.popen("task", "cancel", tid)
    try:
        wait_for(lambda: any(r["kind"] == "cancel" for r in _pending(home, tid)), timeout=30)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        assert cancel.wait(timeout=60) == 0, cancel.stderr.read() if cancel.stderr else ""
    finally:
        if cancel.poll() is None:
            cancel.kill()
            cancel.wait()
    status = cli.wait_status(tid, lambda s: s["finished"], timeout=60)
    assert status["status"] == "cancelled"
    assert _steps(status)["after"]["status"] != "completed"
    assert pid_alive(pid)


def _pending(home: Path, tid: str) -> list:
    import sqlite3

    conn = sqlite3.connect(f"file:{home / 'agency.db'}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT kind FROM interventions WHERE task_id = ? AND applied_at IS NULL",
                            (tid,)).fetchall()
    finally:
        conn.close()

"""A control request sent to an engine that dies before applying it is not lost:
the next engine applies it before it runs anything of the task (issue 12, item 7)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil

from tests.conftest import wait_for


def _daemon_pid(home: Path) -> int:
    return json.loads((home / "daemon.json").read_text())["pid"]


def _rows(home: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(home / "agency.db", timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_cancel_sent_to_a_stopped_engine_cancels_the_task_when_the_next_engine_starts(
        cli, home, write_plan, tmp_path):
    ledger = tmp_path / "ledger.txt"
    plan = write_plan(f"""
steps:
  - {{name: long, run: "echo started >> {ledger}; sleep 30", idempotent: true}}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(lambda: ledger.exists() and ledger.read_text().count("started") == 1, timeout=20)
    pid = _daemon_pid(home)
    os.kill(pid, signal.SIGSTOP)  # the engine is alive but applies nothing
    try:
        canceller = cli.popen("task", "cancel", tid, "--reason", "wrong branch")
        wait_for(lambda: _rows(home, "SELECT id FROM interventions WHERE task_id = ? AND kind = 'cancel'", tid),
                 timeout=20)
    finally:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
             timeout=5)
    with open(home / "daemon.log", "ab") as log:
        subprocess.Popen([sys.executable, "-m", "agent_agency_cli.engine.daemon", "--home", str(home)],
                         stdout=log, stderr=log, start_new_session=True)
    _out, err = canceller.communicate(timeout=60)
    assert canceller.returncode == 0, err
    status = cli.json("task", "status", tid)
    assert status["status"] == "cancelled"
    assert status["reason"] == "wrong branch"
    assert [i["outcome"] for i in status["interventions"] if i["kind"] == "cancel"] == ["applied"]
    # The step was not started again by the new engine.
    assert ledger.read_text().count("started") == 1
    started = _rows(home, "SELECT count(*) FROM events WHERE task_id = ? AND kind = 'step_started'", tid)
    assert started == [(1,)]

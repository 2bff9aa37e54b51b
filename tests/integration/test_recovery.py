"""Crash recovery: SIGKILL the daemon mid-task, again and again; nothing is lost or repeated."""

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

STEPS = 12


def _daemon_pid(home: Path) -> int:
    return json.loads((home / "daemon.json").read_text())["pid"]


def _kill_daemon_hard(home: Path) -> None:
    pid = _daemon_pid(home)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(pid)
             or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, timeout=5)


def _restart_daemon(home: Path) -> None:
    """What a supervisor (or the next command) does: start a fresh daemon at once."""
    with open(home / "daemon.log", "ab") as log:
        subprocess.Popen([sys.executable, "-m", "agent_agency_cli.engine.daemon", "--home",
                          str(home)], stdout=log, stderr=log, start_new_session=True)


def _steps(cli, tid):
    return {s["name"]: s for s in cli.json("task", "status", tid)["steps"]}


def _step_status(home: Path, tid: str, name: str) -> str:
    """Read straight from SQLite: much faster than a CLI call, for tight timing."""
    conn = sqlite3.connect(home / "agency.db", timeout=30)
    try:
        row = conn.execute("SELECT status FROM steps WHERE task_id = ? AND name = ?",
                           (tid, name)).fetchone()
        return row[0] if row else ""
    finally:
        conn.close()


def _step_row(home: Path, tid: str, name: str) -> tuple[str, int]:
    """(status, attempt) straight from SQLite."""
    conn = sqlite3.connect(home / "agency.db", timeout=30)
    try:
        row = conn.execute("SELECT status, attempt FROM steps WHERE task_id = ? AND name = ?",
                           (tid, name)).fetchone()
        return (row[0], row[1]) if row else ("", 0)
    finally:
        conn.close()


def _pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_sigkill_at_twelve_points_every_step_runs_exactly_once(cli, home, write_plan, tmp_path, latch):
    ledger = tmp_path / "ledger.txt"
    # Each step records its shell's pid, waits for its latch (its "work") and records
    # itself at the end, so a step killed mid-way leaves no line and a re-run adds its
    # one line. An orphan of a killed daemon would add a second line once its latch
    # opens: the test checks that recovery killed it first.
    latches = [latch(f"s{i:02d}") for i in range(STEPS)]
    steps = "\n".join(
        f"  - name: s{i:02d}\n"
        f"    run: echo $$ >> {tmp_path}/s{i:02d}.pids; {latches[i].cmd}; echo s{i:02d} >> {ledger}\n"
        f"    idempotent: true\n" + (f"    needs: [s{i - 1:02d}]\n" if i else "")
        for i in range(STEPS)
    )
    plan = write_plan("steps:\n" + steps)
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    for i in range(STEPS):
        name = f"s{i:02d}"
        pids = tmp_path / f"{name}.pids"
        wait_for(lambda pids=pids: len(_pids(pids)) == 1, timeout=20)  # its work has begun
        _kill_daemon_hard(home)
        assert _step_status(home, tid, name) == "running"  # nobody has noticed yet
        _restart_daemon(home)
        # the next daemon kills the orphan and runs the step again
        wait_for(lambda pids=pids: len(_pids(pids)) == 2, timeout=20)
        wait_for(lambda pids=pids: _gone(_pids(pids)[0]), timeout=20)
        assert _step_row(home, tid, name) == ("running", 2)
        latches[i].open()
    status = cli.wait_status(tid, lambda s: s["finished"], timeout=60)
    assert status["status"] == "completed"
    lines = ledger.read_text().split()
    assert lines == [f"s{i:02d}" for i in range(STEPS)], lines
    assert all(s["attempt"] == 2 for s in status["steps"]), [s["attempt"] for s in status["steps"]]
    events = [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()]
    assert sum(1 for e in events if e["kind"] == "task_recovered") == STEPS
    # no orphan is left behind
    assert all(_gone(pid) for i in range(STEPS) for pid in _pids(tmp_path / f"s{i:02d}.pids"))


def test_finished_steps_are_never_rerun_after_a_crash(cli, home, write_plan, tmp_path, latch):
    ledger = tmp_path / "ledger.txt"
    # `slow` waits on a latch (not a sleep): its first run, orphaned by the crash, must be
    # ended by recovery before the re-run, so opening the latch lets exactly one run write.
    gate = latch()
    pids = tmp_path / "slow.pids"
    plan = write_plan(f"""
steps:
  - {{name: a, run: "echo a >> {ledger}"}}
  - {{name: b, run: "echo b >> {ledger}"}}
  - {{name: slow, needs: [a, b], run: "echo $$ >> {pids}; {gate.cmd} && echo slow >> {ledger}", idempotent: true}}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(lambda: len(_pids(pids)) == 1, timeout=20, interval=0.005)  # the first run is in its wait
    _kill_daemon_hard(home)
    _restart_daemon(home)
    wait_for(lambda: len(_pids(pids)) == 2, timeout=30)  # the re-run has started
    gate.open()
    wait_for(lambda: cli.json("task", "status", tid)["status"] == "completed", timeout=30)
    assert sorted(ledger.read_text().split()) == ["a", "b", "slow"]


def test_non_idempotent_interrupted_step_waits_for_a_person(cli, home, write_plan, tmp_path, latch):
    ledger = tmp_path / "ledger.txt"
    pids = tmp_path / "deploy.pids"
    gate = latch()
    plan = write_plan(f"""
steps:
  - {{name: deploy, run: "echo $$ >> {pids}; {gate.cmd}; echo deploy >> {ledger}"}}
  - {{name: notify, needs: [deploy], run: "echo notify >> {ledger}"}}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(lambda: len(_pids(pids)) == 1, timeout=20)
    _kill_daemon_hard(home)
    _restart_daemon(home)
    status = cli.wait_status(tid, lambda s: s["status"] == "escalated", timeout=60)  # a restart under load
    assert "deploy" in status["reason"] and "not idempotent" in status["reason"]
    assert _steps(cli, tid)["deploy"]["status"] == "interrupted"
    orphan = _pids(pids)[0]
    wait_for(lambda: _gone(orphan), timeout=20)  # the orphaned step process was killed
    gate.open()
    res = cli("task", "override", tid, "--step", "deploy", "--action", "retry",
              "--reason", "checked: nothing was deployed")
    assert res.returncode == 0, res.stderr
    cli.wait_status(tid, lambda s: s["status"] == "completed", timeout=20)
    assert ledger.read_text().split() == ["deploy", "notify"]


def test_intervention_on_a_task_of_a_dead_daemon_starts_recovery(cli, home, write_plan):
    plan = write_plan("""
steps:
  - {name: long, run: "sleep 30", idempotent: true}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(lambda: _steps(cli, tid)["long"]["status"] == "running", timeout=20)
    _kill_daemon_hard(home)
    res = cli("task", "cancel", tid, "--reason", "after the crash")
    # On failure, say what happened to the task and what the daemons logged.
    assert res.returncode == 0, (res.stderr, cli("task", "status", tid, "--verbose").stdout,
                                 (home / "daemon.log").read_text()[-3000:])
    status = cli.json("task", "status", tid)
    assert status["status"] == "cancelled"
    assert cli.json("daemon", "status")["running"] is True


def test_orphans_are_found_by_their_environment_even_without_a_stored_pid(cli, home, write_plan, tmp_path,
                                                                         latch):
    """A crash between the spawn and the commit of the pid leaves no pgid: the step's
    environment markers still identify its processes, even one that left the group."""
    ledger = tmp_path / "ledger.txt"
    pids = tmp_path / "slow.pids"
    gate = latch()
    escaped = tmp_path / "escaped.sh"
    escaped.write_text(f"echo $$ >> {pids}; {gate.cmd}; echo escaped >> {ledger}\n")
    # the step ends after its escaped child wrote (at its end the engine kills what is left)
    after_escaped = f"until grep -qs escaped {ledger}; do sleep 0.02; done"
    plan = write_plan(f"""
steps:
  - {{name: slow, run: "setsid sh {escaped} & echo $$ >> {pids}; {gate.cmd}; {after_escaped}; echo slow >> {ledger}",
     idempotent: true}}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(lambda: len(_pids(pids)) == 2, timeout=20)  # the step and the escaped child run
    _kill_daemon_hard(home)
    orphans = _pids(pids)
    conn = sqlite3.connect(home / "agency.db")
    conn.execute("UPDATE steps SET pid = NULL, pgid = NULL WHERE task_id = ?", (tid,))
    conn.commit()
    conn.close()
    _restart_daemon(home)
    wait_for(lambda: all(_gone(pid) for pid in orphans), timeout=20)  # no orphan survived recovery
    gate.open()
    cli.wait_status(tid, lambda s: s["status"] == "completed", timeout=30)
    assert sorted(ledger.read_text().split()) == ["escaped", "slow"], "an orphan survived the recovery"

"""A database write that fails in the engine's own loop — the claim, the archive sweep —
is logged to daemon.log with its cause and retried with backoff; the daemon keeps running
and no task is lost (issue 12 leftover 4). The competing writer is a real process holding
SQLite's write lock (BEGIN IMMEDIATE) on the home's database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import pid_alive, wait_for

HOLDER = """
import os, sqlite3, sys, time
db, locked, release = sys.argv[1:4]
conn = sqlite3.connect(db, isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
open(locked, "w").close()
while not os.path.exists(release):  # the test says when; a deadline keeps a failed test from hanging
    time.sleep(0.01)
conn.execute("ROLLBACK")
"""


class WriteLock:
    """Another process holding the write lock on the home's database until `release()`."""

    def __init__(self, home: Path, tmp: Path):
        self.locked, self.released = tmp / "locked", tmp / "release"
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(home / "agency.db"),
                                      str(self.locked), str(self.released)])
        wait_for(self.locked.exists, timeout=20)

    def release(self) -> None:
        self.released.touch()
        self.proc.wait(timeout=20)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.release()


@pytest.fixture
def write_lock(home: Path, tmp_path: Path):
    locks: list[WriteLock] = []

    def take() -> WriteLock:
        where = tmp_path / f"lock{len(locks)}"
        where.mkdir()
        locks.append(WriteLock(home, where))
        return locks[-1]

    yield take
    for lock in locks:
        lock.close()


def _daemon_log(home: Path) -> str:
    try:
        return (home / "daemon.log").read_text()
    except OSError:
        return ""


def _archived_at(home: Path, tid: str) -> float | None:
    from agent_agency_cli.orchestrator import TaskOrchestrator

    with TaskOrchestrator(home=home) as orch:
        return orch.store.get_task(tid)["archived_at"]


def _failures(home: Path, what: str) -> int:
    return sum(1 for line in _daemon_log(home).splitlines() if f"{what} failed" in line)


def test_a_claim_that_finds_the_database_locked_is_logged_and_retried(cli, home: Path, tmp_path: Path,
                                                                       write_plan, write_lock):
    plan = write_plan("steps:\n  - {name: one, run: 'echo ran'}\n")
    res = cli("task", "create", "--plan", str(plan), "--no-start")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip().splitlines()[0]
    lock = write_lock()
    assert cli("daemon", "start").returncode == 0
    engine = cli.json("daemon", "status")["pid"]
    wait_for(lambda: _failures(home, "claiming a task") >= 2, timeout=30)  # tried, backed off, tried again
    assert cli.status(tid)["status"] == "queued"  # not claimed, not lost
    assert pid_alive(engine)
    lock.release()
    status = cli.wait_status(tid, lambda s: s["finished"])
    assert status["status"] == "completed"
    log = _daemon_log(home)
    assert "database is locked (another process holds the database's write lock)" in log
    assert "claiming a task works again" in log
    assert "Traceback" not in log
    assert pid_alive(engine)


def test_an_archive_sweep_that_finds_the_database_locked_is_retried_and_loses_nothing(
        cli, home: Path, write_plan, write_lock):
    import tarfile

    plan = write_plan("steps:\n  - {name: one, run: 'echo kept in the archive'}\n")
    res = cli("task", "create", "--plan", str(plan), "--foreground")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip().splitlines()[0]
    assert cli.status(tid)["status"] == "completed"
    cfg = write_plan("archive: {retention: 0.001}\n", "c.yaml")  # due at the daemon's first sweep
    lock = write_lock()
    assert cli("--config", str(cfg), "daemon", "start").returncode == 0
    engine = cli.json("daemon", "status")["pid"]
    wait_for(lambda: _failures(home, "the archive sweep") >= 1, timeout=30)
    assert cli.status(tid)["status"] == "completed"
    assert pid_alive(engine)
    lock.release()  # retried after its backoff, not the sweep's 10-minute interval
    wait_for(lambda: _archived_at(home, tid), timeout=30)
    with tarfile.open(home / "archive" / f"{tid}.tar.gz") as tar:
        logs = [m for m in tar.getmembers() if m.name.endswith("one.log")]
        assert logs, tar.getnames()  # the step's log is in the archive (the retry did not pack an empty dir)
        assert b"kept in the archive" in tar.extractfile(logs[0]).read()
    # The recovery line is logged just after the archive's commit: wait for it, not race it.
    wait_for(lambda: "the archive sweep works again" in _daemon_log(home), timeout=30)
    assert "Traceback" not in _daemon_log(home)
    assert pid_alive(engine)


def test_a_task_claimed_whose_runner_cannot_start_is_handed_back_and_run(home: Path, monkeypatch: pytest.MonkeyPatch):
    """The claim commits, then loading the task fails on a database error: the task goes back
    to the queue (as crash recovery would) and the next claim runs it; the daemon loop goes on."""
    import sqlite3

    import anyio

    from agent_agency_cli.config import Settings
    from agent_agency_cli.engine import engine as engine_module
    from agent_agency_cli.orchestrator import TaskOrchestrator

    real = engine_module.TaskRunner
    failed: list[str] = []

    def flaky_runner(engine, row):
        if not failed:
            failed.append(row["id"])
            raise sqlite3.OperationalError("disk I/O error")
        return real(engine, row)

    monkeypatch.setattr(engine_module, "TaskRunner", flaky_runner)
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": {"steps": [{"name": "one", "run": "echo ran"}]}}, start_daemon=False)
    settings = Settings.model_validate({"daemon": {"poll_interval": 0.02}})
    engine = engine_module.Engine(home, settings)

    async def serve_until_done() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(engine.serve)
            with anyio.fail_after(60):
                while engine.store.get_task(tid)["status"] != "completed":
                    await anyio.sleep(0.02)  # polling a state, with a deadline
            engine.stopping = True
            engine.kick()

    try:
        anyio.run(serve_until_done)
        events = [e["kind"] for e in engine.store.events_after(tid, 0)]
    finally:
        engine.conn.close()
    assert failed == [tid]
    assert "task_recovered" in events  # handed back to the queue after the failed start
    assert events.count("task_started") == 2  # claimed again, then run

"""Another process holding the write lock past busy_timeout does not fail a healthy step:
the engine waits it out and logs why (issue 12, item 5)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from agent_agency_cli.orchestrator import TaskOrchestrator


class _BusyWaits(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.twice = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        self.messages.append(msg)
        if "database busy" in msg:
            self.count += 1
            if self.count >= 2:
                self.twice.set()


def test_a_write_lock_held_past_busy_timeout_does_not_fail_the_step(home: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("agent_agency_cli.store.db.BUSY_TIMEOUT_MS", 100)  # the lock outlasts it many times
    started = tmp_path / "started"
    release = tmp_path / "release"
    plan = {"steps": [{"name": "work", "run": f"touch {started}; while [ ! -e {release} ]; do sleep 0.05; done"}]}
    waits = _BusyWaits()
    db_log = logging.getLogger("agent_agency_cli.store.db")
    db_log.addHandler(waits)
    db_log.setLevel(logging.INFO)
    errors: list[BaseException] = []

    def hold_the_lock() -> None:
        try:
            import time

            deadline = time.monotonic() + 60
            while not started.exists():  # the step runs: now another process takes the lock
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)
            holder = sqlite3.connect(home / "agency.db", isolation_level=None, timeout=30)
            holder.execute("BEGIN IMMEDIATE")
            release.touch()  # the step ends while the lock is held: its completion must wait
            waits.twice.wait(timeout=60)
            holder.execute("ROLLBACK")
            holder.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            release.touch()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        with TaskOrchestrator(home=home) as orch:
            tid = orch.submit_task({"plan": plan}, start_daemon=False)
            final = orch.run_foreground(tid)
            status = orch.get_status(tid)
    finally:
        release.touch()
        holder.join(timeout=60)
        db_log.removeHandler(waits)
    assert not errors
    assert waits.count >= 2, "the lock was not contended"
    assert final.value == "completed", status["reason"]
    assert status["steps"][0]["status"] == "completed"
    assert any("another process holds the write lock" in m for m in waits.messages)

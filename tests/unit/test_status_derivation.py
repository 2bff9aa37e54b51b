"""A task's progress is derived once (models.progress): the status view, the task list and
the TUI's live model give the same numbers for the same steps."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from agent_agency_cli.models import TERMINAL_TASK_STATUSES, TERMINAL_TASK_VALUES, TaskStatus, progress
from agent_agency_cli.orchestration.views import build_status, summary
from agent_agency_cli.paths import HomePaths
from agent_agency_cli.tui.feed import FINAL, recount

STATUSES = ["completed", "completed", "running", "pending", "failed", "skipped", "completed"]


def _rows(statuses: list[str]) -> tuple[sqlite3.Row, list[sqlite3.Row]]:
    """A task row and its step rows, as the store returns them."""
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    now = time.time()
    conn.execute("CREATE TABLE t (id, description, mode, priority, status, requirements, deadline, "
                 "created_at, started_at, finished_at, paused_at, paused_total, exit_code, reason, "
                 "failed_step, workdir, plan_path, limits, plan, concurrency, complexity, stakeholders)")
    conn.execute("INSERT INTO t VALUES ('abc123', 'd', 'auto', 'normal', 'running', '[]', NULL, ?, ?, "
                 "NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, '{}', '{}', NULL, NULL, NULL)", (now, now))
    conn.execute("CREATE TABLE s (name, status, kind, spec, needs, attempt, max_attempts, started_at, "
                 "finished_at, duration, estimate, timeout, exit_code, reason, progress, progress_message, "
                 "pid, overridden, worker, next_retry_at, metrics, paused_at, paused_total)")
    for i, st in enumerate(statuses):
        conn.execute("INSERT INTO s VALUES (?, ?, 'shell', ?, '[]', 1, 1, NULL, NULL, 1.0, 1.0, NULL, NULL, "
                     "NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0)",
                     (f"s{i}", st, json.dumps({"run": "true"})))
    return conn.execute("SELECT * FROM t").fetchone(), conn.execute("SELECT * FROM s").fetchall()


def test_progress_counts_done_total_and_percent():
    p = progress({"completed": 3, "running": 1, "failed": 1, "pending": 1, "skipped": 1})
    assert (p["done"], p["total"], p["percent"]) == (3, 7, 42.9)
    assert progress({}) == {"done": 0, "total": 0, "percent": 0.0, "by_status": {}}


def test_status_view_list_and_tui_agree(tmp_path):
    task, steps = _rows(STATUSES)
    status = build_status(task, steps, HomePaths(tmp_path))
    listed = summary(task, {"completed": 3, "running": 1, "pending": 1, "failed": 1, "skipped": 1}, time.time())
    live = {"progress": None}
    recount(live, {s["name"]: {"status": s["status"]} for s in status["steps"]})
    assert status["progress"] == live["progress"]
    assert status["progress"]["by_status"] == {"completed": 3, "running": 1, "pending": 1, "failed": 1,
                                               "skipped": 1}
    assert listed["progress"] == {k: status["progress"][k] for k in ("done", "total", "percent")}


@pytest.mark.parametrize("status", list(TaskStatus))
def test_finished_statuses_are_one_set(status: TaskStatus):
    assert (status.value in TERMINAL_TASK_VALUES) is status.is_terminal is (status in TERMINAL_TASK_STATUSES)
    assert (status.value in FINAL) is status.is_terminal

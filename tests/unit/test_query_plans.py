"""Every query the daemon (and a dashboard) runs periodically uses an index.

The statements are captured from the real code paths with SQLite's trace hook,
then each is run through `EXPLAIN QUERY PLAN`: a full `SCAN` of tasks, steps,
events or interventions fails the test. A store of 100,000 tasks makes such a
scan cost tens of milliseconds on every poll (issue 13). A scan that walks an
index in order under a LIMIT (the newest page of `task list`) stops early and
is allowed.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent_agency_cli.engine.recovery import recover_orphans
from agent_agency_cli.engine.task_archive import sweep
from agent_agency_cli.orchestrator import TaskOrchestrator
from agent_agency_cli.paths import HomePaths

BIG_TABLES = ("tasks", "steps", "events", "interventions")
_SCAN = re.compile(r"\bSCAN (?:TABLE )?(\w+)(.*)")


def plan_problems(conn: sqlite3.Connection, sql: str) -> list[str]:
    """The plan lines of `sql` that scan a big table without an index bounded by a LIMIT."""
    details = [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    # An ordered index walk stops after the page, unless the rows must be sorted first.
    bounded = re.search(r"\bLIMIT\b", sql, re.IGNORECASE) and not any("TEMP B-TREE" in d for d in details)
    problems = []
    for detail in details:
        m = _SCAN.search(detail)
        if not m or m.group(1) not in BIG_TABLES:
            continue
        if bounded and "INDEX" in m.group(2):
            continue
        problems.append(f"{detail}  <-  {sql}")
    return problems


@contextmanager
def captured(conn: sqlite3.Connection) -> Iterator[list[str]]:
    """The statements (with their values bound) that `conn` runs inside the block."""
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def _queries(seen: list[str]) -> list[str]:
    return [s for s in seen if s.lstrip().split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE", "WITH")]


def _plan() -> dict:
    return {"description": "query plan test", "plan": {"steps": [{"name": "a", "run": "true"}]}}


@pytest.fixture()
def orch(home: Path) -> Iterator[TaskOrchestrator]:
    o = TaskOrchestrator(home=home)
    # A few tasks in several states, so that every table has rows and every branch runs.
    for _ in range(3):
        o.submit_task(_plan(), start_daemon=False)
    tid = o.submit_task(_plan(), start_daemon=False)
    o.cancel(tid)
    yield o
    o.close()


def _check(orch: TaskOrchestrator, action: Callable[[], object]) -> list[str]:
    conn = orch.store.conn
    with captured(conn) as seen:
        action()
    queries = _queries(seen)
    assert queries, "the action ran no query: the capture is broken"
    problems = [p for q in queries for p in plan_problems(conn, q)]
    assert problems == []
    return queries


def test_the_checker_catches_a_full_scan(orch: TaskOrchestrator) -> None:
    conn = orch.store.conn
    assert plan_problems(conn, "SELECT * FROM tasks WHERE description = 'x'")
    assert plan_problems(conn, "SELECT * FROM interventions WHERE reason = 'x' ORDER BY id")
    assert not plan_problems(conn, "SELECT * FROM tasks WHERE id = 'x'")


def test_engine_poll_queries_use_indexes(orch: TaskOrchestrator) -> None:
    store = orch.store
    queries = _check(orch, lambda: (store.data_version(), store.pending_interventions(),
                                    store.claim_next_task("nobody-poll")))
    assert any("interventions" in q for q in queries)


def test_orphan_scan_uses_indexes(orch: TaskOrchestrator) -> None:
    _check(orch, lambda: (recover_orphans(orch.store, "nobody-scan"),
                          orch.store.tasks_owned_elsewhere(["running", "paused"], "nobody-scan")))


def test_archive_sweep_uses_indexes(orch: TaskOrchestrator, home: Path) -> None:
    queries = _check(orch, lambda: sweep(orch.store, HomePaths(home), 3600.0, 7200.0, now=time.time()))
    assert any("archived_at" in q for q in queries)


def test_dashboard_feed_and_list_page_use_indexes(orch: TaskOrchestrator) -> None:
    _check(orch, lambda: (orch.list_tasks(limit=20), orch.list_tasks("queued", limit=20),
                          orch.events(None, after=0, limit=100)))

"""Fewer commits per task (issue 13): a claim that joins the group-commit batch, a claim of
an empty queue that takes no write lock, and `Store.unit()` (one commit for several writes,
each all-or-nothing on its own)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent_agency_cli.errors import InvalidTransition
from agent_agency_cli.models import StepStatus as S
from agent_agency_cli.models import TaskStatus as T
from agent_agency_cli.store import Store
from agent_agency_cli.store.db import connect


def _add(store: Store, tid: str, created: float = 1.0) -> None:
    store.insert_task(
        {"id": tid, "description": "d", "mode": "auto", "priority": "normal", "priority_rank": 2,
         "status": "queued", "created_at": created, "updated_at": created, "plan": {}},
        [{"name": "a", "kind": "shell", "spec": {}, "needs": []}],
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(connect(tmp_path / "db.sqlite"))


def _other(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "db.sqlite")


def _task(conn: sqlite3.Connection, tid: str) -> tuple[str, str | None]:
    return tuple(conn.execute("SELECT status, owner FROM tasks WHERE id = ?", (tid,)).fetchone())


def _events(conn: sqlite3.Connection, tid: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT kind FROM events WHERE task_id = ? ORDER BY id", (tid,))]


def test_an_empty_queue_is_claimed_without_the_write_lock(store: Store, tmp_path: Path) -> None:
    """The daemon asks after every change; with nothing queued that must not wait for (or
    take) the write lock another process holds."""
    other = _other(tmp_path)
    other.execute("BEGIN IMMEDIATE")  # e.g. a submit in progress
    store.conn.execute("PRAGMA busy_timeout = 50")  # a write attempt would fail, not hang
    try:
        assert store.claim_next_task("engine", batch=True) is None
        assert store.claim_next_task("engine") is None
        assert not store.batch_open
    finally:
        other.execute("ROLLBACK")


def test_a_batched_claim_is_seen_here_and_committed_with_the_next_step_start(store: Store, tmp_path: Path) -> None:
    _add(store, "t1")
    row = store.claim_next_task("engine", batch=True)
    assert row is not None and row["id"] == "t1" and row["status"] == "running" and row["owner"] == "engine"
    assert row["started_at"] is not None  # the row as it is now, not as it was queued
    other = _other(tmp_path)
    assert _task(other, "t1") == ("queued", None)  # not committed yet
    store.set_step_status("t1", "a", S.PENDING, S.RUNNING, event="step_started", batch=True,
                           payload={"attempt": 1, "max_attempts": 1})
    store.commit_batch()
    assert _task(other, "t1") == ("running", "engine")
    assert _events(other, "t1") == ["task_created", "task_started", "step_started"]


def test_a_batched_claim_lost_with_its_engine_leaves_the_task_queued(store: Store, tmp_path: Path) -> None:
    """A crash between the claim and the first step start: nothing of either is in the
    database, and the next engine claims the task."""
    _add(store, "t1")
    assert store.claim_next_task("dead-engine", batch=True) is not None
    store.conn.close()  # the engine dies: its open transaction is rolled back
    survivor = Store(connect(tmp_path / "db.sqlite"))
    assert _task(survivor.conn, "t1") == ("queued", None)
    assert _events(survivor.conn, "t1") == ["task_created"]
    row = survivor.claim_next_task("next-engine")
    assert row is not None and row["owner"] == "next-engine"
    assert _task(_other(tmp_path), "t1") == ("running", "next-engine")


def test_claims_take_tasks_in_order_and_skip_reserved_ones(store: Store) -> None:
    _add(store, "t1", created=1.0)
    _add(store, "t2", created=2.0)
    _add(store, "t3", created=3.0)
    store.conn.execute("UPDATE tasks SET owner = 'reserved:held' WHERE id = 't2'")
    first = store.claim_next_task("engine", batch=True)
    second = store.claim_next_task("engine", batch=True)
    assert (first["id"], second["id"]) == ("t1", "t3")
    assert store.claim_next_task("engine", batch=True) is None
    store.commit_batch()


def test_a_unit_commits_its_writes_once(store: Store, tmp_path: Path) -> None:
    _add(store, "t1")
    store.claim_next_task("engine")
    store.set_step_status("t1", "a", S.PENDING, S.RUNNING, event="step_started",
                           payload={"attempt": 1, "max_attempts": 1})
    other = _other(tmp_path)
    store.set_step_status("t1", "a", S.RUNNING, S.COMPLETED, event="step_completed", batch=True,
                           payload={"duration": 0.1})
    with store.unit():
        store.add_review("t1", phase="final", kind="council", verdict="approve", data={})
        store.set_task_status("t1", T.RUNNING, T.COMPLETED, event="task_completed", owner=None)
        # nothing is visible elsewhere before the end of the unit: one commit for all three
        assert _task(other, "t1") == ("running", "engine")
        assert other.execute("SELECT status FROM steps WHERE task_id = 't1'").fetchone()[0] == "running"
    assert _task(other, "t1") == ("completed", None)
    assert _events(other, "t1")[-3:] == ["step_completed", "review_recorded", "task_completed"]
    assert not store.batch_open


def test_a_failed_write_in_a_unit_is_undone_alone_and_the_rest_is_committed(store: Store, tmp_path: Path) -> None:
    _add(store, "t1")
    with pytest.raises(InvalidTransition), store.unit():
        store.add_review("t1", phase="final", kind="council", verdict="approve", data={})
        store.set_task_status("t1", T.RUNNING, T.COMPLETED, event="task_completed")  # it is queued
    other = _other(tmp_path)
    assert _task(other, "t1") == ("queued", None)
    assert _events(other, "t1") == ["task_created", "review_recorded"]
    assert not store.batch_open


def test_outside_a_unit_each_write_commits_on_its_own(store: Store, tmp_path: Path) -> None:
    _add(store, "t1")
    store.add_review("t1", phase="final", kind="council", verdict="approve", data={})
    assert not store.batch_open and not store.in_unit
    assert _events(_other(tmp_path), "t1") == ["task_created", "review_recorded"]

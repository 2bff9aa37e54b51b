"""Store group commit: batched step transitions share one transaction, keep the
transition check, stay all-or-nothing each, and commit before any other write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent_agency_cli.errors import InvalidTransition
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import StepStatus as S
from agent_agency_cli.store import BatchLostError, Store
from agent_agency_cli.store.db import connect

STARTED_KIND = EventKind.STEP_STARTED
STARTED = {"attempt": 1, "max_attempts": 1}  # the payload the engine writes (checked: conftest.py)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    conn = connect(tmp_path / "db.sqlite")
    s = Store(conn)
    s.insert_task(
        {"id": "t1", "description": "d", "mode": "auto", "priority": "normal",
         "priority_rank": 2, "status": "queued", "created_at": 1.0, "updated_at": 1.0,
         "plan": {}},
        [{"name": n, "kind": "shell", "spec": {}, "needs": []} for n in ("a", "b", "c")],
    )
    return s


def _other(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "db.sqlite")


def _status(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT name, status FROM steps WHERE task_id = 't1'").fetchall())


def test_batched_changes_commit_together(store: Store, tmp_path: Path) -> None:
    store.set_step_status("t1", "a", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)
    store.set_step_status("t1", "b", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)
    assert store.batch_open
    assert _status(_other(tmp_path)) == {"a": "pending", "b": "pending", "c": "pending"}
    store.commit_batch()
    assert not store.batch_open
    assert _status(_other(tmp_path))["a"] == "running"
    kinds = _other(tmp_path).execute(
        "SELECT step, kind FROM events WHERE step IS NOT NULL ORDER BY id").fetchall()
    assert kinds == [("a", "step_started"), ("b", "step_started")]


def test_a_refused_transition_leaves_the_rest_of_the_batch(store: Store, tmp_path: Path) -> None:
    store.set_step_status("t1", "a", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)
    with pytest.raises(InvalidTransition):
        store.set_step_status("t1", "a", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)
    store.commit_batch()
    assert _status(_other(tmp_path)) == {"a": "running", "b": "pending", "c": "pending"}


def test_a_further_statement_that_fails_loses_the_batch(store: Store, tmp_path: Path) -> None:
    """No savepoint per change (two statements of a step's nine): a statement that fails
    after the UPDATE rolls the whole batch back and stops further batches (fail-stop: the
    runner stops as if it had crashed, recovery takes over); never half a change."""
    store.set_step_status("t1", "a", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)
    with pytest.raises(sqlite3.OperationalError):
        store.set_step_status("t1", "b", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True,
                              also=[("INSERT INTO no_such_table VALUES (1)", ())])
    assert not store.batch_open
    assert _status(_other(tmp_path)) == {"a": "pending", "b": "pending", "c": "pending"}
    assert _other(tmp_path).execute("SELECT COUNT(*) FROM events WHERE step IS NOT NULL").fetchone()[0] == 0
    with pytest.raises(BatchLostError):
        store.commit_batch()


def test_any_other_write_commits_the_batch_first(store: Store, tmp_path: Path) -> None:
    store.set_step_status("t1", "a", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)
    store.set_step_status("t1", "b", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED)
    assert not store.batch_open
    store.set_step_status("t1", "c", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)
    store.add_event("t1", EventKind.TASK_RESUMED)
    assert not store.batch_open
    assert set(_status(_other(tmp_path)).values()) == {"running"}
    kinds = [r[0] for r in _other(tmp_path).execute("SELECT kind FROM events ORDER BY id")]
    assert kinds[-4:] == ["step_started", "step_started", "step_started", "task_resumed"]


def test_a_lost_batch_stops_further_batches(store: Store) -> None:
    store.set_step_status("t1", "a", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)
    store.conn.execute("ROLLBACK")  # as SQLite does on some I/O errors
    store._batch_lost = RuntimeError("disk I/O error")
    with pytest.raises(BatchLostError):
        store.commit_batch()
    with pytest.raises(BatchLostError):
        store.set_step_status("t1", "b", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)


def test_a_change_that_fails_halfway_without_savepoint_loses_the_batch(
    store: Store, tmp_path: Path
) -> None:
    store.set_step_status("t1", "a", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)
    store.conn.execute("CREATE TEMP TRIGGER no_b BEFORE INSERT ON events WHEN NEW.step = 'b' "
                       "BEGIN SELECT RAISE(ABORT, 'no'); END")
    with pytest.raises(sqlite3.IntegrityError):
        store.set_step_status("t1", "b", S.PENDING, S.RUNNING, event=STARTED_KIND, payload=STARTED, batch=True)
    assert not store.batch_open  # rolled back: never half a change
    assert _status(_other(tmp_path)) == {"a": "pending", "b": "pending", "c": "pending"}
    with pytest.raises(BatchLostError):
        store.commit_batch()

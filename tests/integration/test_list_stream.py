"""`task list --limit 0 --json` streams every task in keyset pages: the same tasks in the
same order as the list the facade builds, ties on created_at included."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from agent_agency_cli.orchestrator import TaskOrchestrator
from agent_agency_cli.store.task_pages import iter_tasks

PLAN = {"plan": {"steps": [{"name": "a", "run": "true"}, {"name": "b", "run": "true", "needs": ["a"]}]}}


@pytest.fixture()
def tasks(home: Path) -> list[str]:
    with TaskOrchestrator(home=home) as orch:
        ids = [orch.submit_task(PLAN, start_daemon=False) for _ in range(23)]
        orch.cancel(ids[3])
    conn = sqlite3.connect(str(home / "agency.db"), isolation_level=None)
    # Nine tasks created in the same instant: the pages must break the tie by rowid.
    conn.execute(f"UPDATE tasks SET created_at = 1000.0 WHERE id IN ({', '.join('?' * 9)})", ids[5:14])
    conn.close()
    return ids


def _ids(listing: list[dict]) -> list[str]:
    return [t["id"] for t in listing]


def test_pages_of_any_size_give_the_whole_list_in_order(home: Path, tasks: list[str]) -> None:
    with TaskOrchestrator(home=home) as orch:
        expected = _ids(orch.list_tasks())
        for page in (1, 4, 9, 23, 500):
            got = [(r["id"], c) for r, c in iter_tasks(orch.store, page=page)]
            assert [i for i, _ in got] == expected
            assert all(sum(c.values()) == 2 for _, c in got)
        queued = [r["id"] for r, _ in iter_tasks(orch.store, ["queued"], page=4)]
        assert queued == _ids(orch.list_tasks("queued")) and tasks[3] not in queued
    assert len(expected) == 23


def test_cli_streams_every_task_as_one_json_array(home: Path, tasks: list[str]) -> None:
    result = CliRunner().invoke(app, ["task", "list", "--limit", "0", "--json"])
    assert result.exit_code == 0, result.output
    streamed = json.loads(result.stdout)
    with TaskOrchestrator(home=home) as orch:
        built = orch.list_tasks()
    assert _ids(streamed) == _ids(built)
    strip = lambda t: {k: v for k, v in t.items() if k not in ("age", "elapsed")}  # noqa: E731 - clock-dependent
    assert [strip(t) for t in streamed] == [strip(t) for t in built]
    assert streamed[0]["progress"] == {"done": 0, "total": 2, "percent": 0.0}


def test_cli_stream_of_an_empty_store_and_a_bad_status(home: Path) -> None:
    result = CliRunner().invoke(app, ["task", "list", "--limit", "0", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    result = CliRunner().invoke(app, ["task", "list", "--limit", "0", "--json", "--status", "sleeping"])
    assert result.exit_code == 2
    assert "unknown status 'sleeping'" in result.output and "[" not in result.stdout


def test_each_next_page_seeks_the_index(home: Path, tasks: list[str]) -> None:
    # A page that walked the index from the newest task made a listing of 100,000 tasks
    # quadratic (issue 13): the next-page query must SEARCH below the last row seen.
    with TaskOrchestrator(home=home) as orch:
        seen: list[str] = []
        orch.store.conn.set_trace_callback(seen.append)
        try:
            assert len(list(iter_tasks(orch.store, page=5))) == 23
        finally:
            orch.store.conn.set_trace_callback(None)
        following = [s for s in seen if "FROM tasks" in s and "rowid) <" in s]
        assert len(following) == 4
        plan = [r[-1] for r in orch.store.conn.execute("EXPLAIN QUERY PLAN " + following[0])]
    assert any(p.startswith("SEARCH tasks USING INDEX tasks_by_created") for p in plan), plan

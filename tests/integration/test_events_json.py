"""`task events --json` writes every event of a big task, one compact object per line,
in id order, across the block boundaries of its buffered writer."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from agent_agency_cli.orchestrator import TaskOrchestrator


def test_events_json_of_a_big_task_is_whole_and_ordered(home: Path) -> None:
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False)
    conn = sqlite3.connect(str(home / "agency.db"), isolation_level=None)
    now = time.time()
    # 2,503 more events: more than two of the writer's 1,000-line blocks, and a partial one.
    conn.executemany("INSERT INTO events (task_id, step, kind, payload, ts) VALUES (?, 'a', 'step_progress', ?, ?)",
                     [(tid, json.dumps({"n": i, "message": "line \"quoted\" é"}), now) for i in range(2503)])
    expected = [r[0] for r in conn.execute("SELECT id FROM events WHERE task_id = ? ORDER BY id", (tid,))]
    conn.close()

    result = CliRunner().invoke(app, ["task", "events", tid, "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    events = [json.loads(x) for x in lines]
    assert [e["id"] for e in events] == expected
    progress = [e for e in events if e["kind"] == "step_progress"]
    assert [e["payload"]["n"] for e in progress] == list(range(2503))
    assert progress[-1]["payload"]["message"] == 'line "quoted" é'
    assert all(": " not in x[:20] for x in lines)  # compact: one object per line, no layout


def test_events_json_after_skips_what_was_seen(home: Path) -> None:
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False)
        ids = [e["id"] for e in orch.events(tid)]
    result = CliRunner().invoke(app, ["task", "events", tid, "--json", "--after", str(ids[0])])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["id"] for x in result.stdout.splitlines()] == ids[1:]

"""`task create` prints the stored id whatever fails after the insert (issue 12, item 8)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from agent_agency_cli.errors import EXIT_STORED_NOT_STARTED


def _task_ids(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "agency.db")
    try:
        return [r[0] for r in conn.execute("SELECT id FROM tasks")]
    finally:
        conn.close()


def _break_daemon_start(home: Path) -> None:
    # daemon.log cannot be opened for the daemon's output: starting it fails after the insert.
    (home / "daemon.log").mkdir()


def test_daemon_failing_at_start_still_prints_the_stored_id(home: Path, write_plan):
    plan = write_plan("steps:\n  - {name: a, run: 'true'}\n")
    _break_daemon_start(home)
    res = CliRunner().invoke(app, ["task", "create", "--plan", str(plan)])
    assert res.exit_code == EXIT_STORED_NOT_STARTED == 6
    assert res.exception is None or isinstance(res.exception, SystemExit)
    (tid,) = _task_ids(home)
    assert res.stdout.splitlines()[0] == tid
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: task {tid} is stored but was not started")
    assert "daemon start" in err[0] and "Traceback" not in res.output


def test_daemon_failing_at_start_with_json_gives_the_id_in_the_document(home: Path, write_plan):
    plan = write_plan("steps:\n  - {name: a, run: 'true'}\n")
    _break_daemon_start(home)
    res = CliRunner().invoke(app, ["task", "create", "--plan", str(plan), "--json"])
    assert res.exit_code == 6
    doc = json.loads(res.stdout)
    assert doc["id"] == _task_ids(home)[0] and doc["started"] is False

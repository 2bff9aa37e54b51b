"""Hostile input gets one line, a documented exit code and stores nothing (issue 12, item 9)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from agent_agency_cli.orchestrator import TaskOrchestrator

HUGE = "9" * 30


def _tasks(home: Path) -> int:
    if not (home / "agency.db").exists():
        return 0
    conn = sqlite3.connect(home / "agency.db")
    try:
        return conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    finally:
        conn.close()


def _one_line(res, code: int, says: str) -> None:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and says in lines[0], lines[0]


@pytest.fixture
def plan(write_plan) -> Path:
    return write_plan("steps:\n  - {name: a, run: 'true'}\n")


@pytest.mark.parametrize(("args", "says"), [
    (["--deadline", "10000000000000d"], "deadline"),
    (["--concurrency", HUGE], "--concurrency must be a whole number from 1 to 10,000"),
    (["--concurrency", "0"], "--concurrency"),
    (["--workdir", "/tmp/a\x00b"], "NUL"),
    (["--description", "x\x00y"], "NUL"),
    # Found by the property test: an unknown user's home, a line separator in a path.
    (["--workdir", "~0"], "workdir '~0' does not exist"),
    (["--workdir", "\x1e"], "workdir '\\x1e' does not exist"),
])
def test_bad_create_options_are_one_line_and_store_nothing(home: Path, plan: Path, args, says):
    res = CliRunner().invoke(app, ["task", "create", "--plan", str(plan), "--no-start", *args])
    _one_line(res, 2, says)
    assert _tasks(home) == 0


@pytest.mark.parametrize("step", [
    "{name: a, run: \"echo \\0 hi\"}",
    "{name: a, run: [echo, \"a\\0\"]}",
    "{name: a, run: 'true', env: {X: \"a\\0b\"}}",
    "{name: a, run: 'true', workdir: \"/tmp\\0x\"}",
])
def test_nul_bytes_in_a_plan_are_refused_at_create(home: Path, write_plan, step: str):
    plan = write_plan(f"steps:\n  - {step}\n")
    res = CliRunner().invoke(app, ["task", "create", "--plan", str(plan), "--no-start"])
    _one_line(res, 2, "contains a NUL byte")
    assert _tasks(home) == 0


def test_a_huge_plan_concurrency_is_refused(home: Path, write_plan):
    plan = write_plan(f"concurrency: {HUGE}\nsteps:\n  - {{name: a, run: 'true'}}\n")
    res = CliRunner().invoke(app, ["task", "create", "--plan", str(plan), "--no-start"])
    _one_line(res, 2, "'concurrency' must be a whole number from 1 to 10,000")
    assert _tasks(home) == 0


@pytest.mark.parametrize("args", [["task", "list", "--limit", HUGE], ["task", "events", "abc", "--after", HUGE]])
def test_huge_counts_are_one_line(home: Path, args):
    _one_line(CliRunner().invoke(app, args), 2, "must be a whole number from 0 to")


def test_a_file_as_data_home_is_one_line(tmp_path: Path):
    not_a_dir = tmp_path / "passwd"
    not_a_dir.write_text("root:x:0:0\n")
    res = CliRunner().invoke(app, ["--home", str(not_a_dir), "task", "list"])
    _one_line(res, 2, "is not a directory")
    assert not_a_dir.read_text() == "root:x:0:0\n"


def test_a_locked_database_is_one_line_and_stores_nothing(home: Path, plan: Path, monkeypatch):
    orch = TaskOrchestrator(home=home)
    assert orch.list_tasks() == []  # the schema exists
    orch.close()
    monkeypatch.setattr("agent_agency_cli.store.db.BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(home / "agency.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write lock
    try:
        res = CliRunner().invoke(app, ["task", "create", "--plan", str(plan), "--no-start"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _one_line(res, 1, "is locked by another process")
    assert _tasks(home) == 0


def test_a_corrupted_database_is_detected_and_says_how_to_recover(home: Path, plan: Path):
    orch = TaskOrchestrator(home=home)
    try:
        for i in range(40):  # enough rows for several pages
            orch.submit_task({"description": f"t{i} " + "x" * 500, "plan": str(plan)}, start_daemon=False)
    finally:
        orch.close()
    db = home / "agency.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    page = 4096
    for p in range(2, len(data) // page):  # scribble over every page but the header page
        data[p * page:p * page + 64] = b"\xff" * 64
    db.write_bytes(bytes(data))
    res = CliRunner().invoke(app, ["task", "list"])
    _one_line(res, 1, "is corrupted")
    assert ".recover" in res.stderr


def test_a_deleted_workdir_is_reported_as_such(home: Path, plan: Path, tmp_path: Path):
    workdir = tmp_path / "project"
    workdir.mkdir()
    orch = TaskOrchestrator(home=home)
    try:
        tid = orch.submit_task({"plan": str(plan), "workdir": str(workdir)}, start_daemon=False)
        workdir.rmdir()
        orch.run_foreground(tid)
        reason = orch.get_status(tid)["steps"][0]["reason"]
    finally:
        orch.close()
    assert "working directory" in reason and "does not exist" in reason
    assert "command not found" not in reason

"""Commits per task (issue 13): the daemon claims a task and starts its first step in one
commit, and ends its last step, its final review and the task itself in another; each
change is still committed before anything acts on it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_agency_cli.engine import engine as engine_module
from agent_agency_cli.orchestrator import TaskOrchestrator
from tests.conftest import wait_status

# Run by each step in its own process: what the database holds (committed) at that moment.
CHECK = textwrap.dedent(
    """
    import os, sqlite3
    conn = sqlite3.connect(os.environ["CHECK_DB"])
    tid = os.environ["AGENT_AGENCY_TASK_ID"]
    status, owner = conn.execute("SELECT status, owner FROM tasks WHERE id = ?", (tid,)).fetchone()
    step = conn.execute("SELECT status FROM steps WHERE task_id = ? AND name = 'check'", (tid,)).fetchone()[0]
    kinds = [r[0] for r in conn.execute("SELECT kind FROM events WHERE task_id = ?", (tid,))]
    assert (status, step) == ("running", "running") and owner, (status, owner, step)
    assert "task_started" in kinds and "step_started" in kinds, kinds
    """
)


def _transactions(statements: list[str]) -> list[list[str]]:
    """The write transactions among the statements an engine's connection ran, in order."""
    out: list[list[str]] = []
    current: list[str] | None = None
    for sql in statements:
        if sql.startswith("BEGIN"):
            current = []
        elif sql.startswith(("COMMIT", "ROLLBACK")) and not sql.startswith("ROLLBACK TO"):
            if current is not None:
                out.append(current)
            current = None
        elif current is not None:
            current.append(sql)
    return out


def _holding(transactions: list[list[str]], *needles: str) -> list[list[str]]:
    return [tx for tx in transactions if all(any(n in sql for sql in tx) for n in needles)]


def _serve(home: Path, monkeypatch: pytest.MonkeyPatch, tasks: int, check: Path) -> tuple[list[str], list[list[str]]]:
    """Run `tasks` one-step tasks through an engine's serve loop in this process; (task
    ids, the write transactions of the engine's connection)."""
    orch = TaskOrchestrator(home=home)
    plan = {"steps": [{"name": "check", "run": [sys.executable, str(check)],
                       "env": {"CHECK_DB": str(home / "agency.db")}}]}
    ids = [orch.submit_task({"plan": plan, "description": f"commits {i}"}, start_daemon=False) for i in range(tasks)]
    statements: list[str] = []
    real_connect = engine_module.connect

    def traced(*args: Any, **kwargs: Any) -> Any:  # the engine's own connection, statement by statement
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(engine_module, "connect", traced)
    engine = engine_module.Engine(home, orch.settings)

    async def serve_until_done() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(engine.serve)
            with anyio.fail_after(60):
                while {orch.get_status(t)["status"] for t in ids} - {"completed", "failed"}:
                    await anyio.sleep(0.02)
            engine.stopping = True
            engine.kick()

    try:
        anyio.run(serve_until_done)
        assert {orch.get_status(t)["status"] for t in ids} == {"completed"}  # every check passed
    finally:
        engine.conn.close()
        orch.close()
    # A step that runs longer than PID_WRITE_DELAY gets its pid written on its own: not a transition.
    pid_only = lambda tx: all(sql.startswith("UPDATE steps SET pid") for sql in tx)  # noqa: E731
    return ids, [tx for tx in _transactions(statements) if not pid_only(tx)]


def test_one_task_is_two_commits(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check = tmp_path / "check.py"
    check.write_text(CHECK)
    (tid,), transactions = _serve(home, monkeypatch, 1, check)
    assert len(transactions) == 2, [[sql[:80] for sql in tx] for tx in transactions]
    started, ended = transactions
    assert _holding([started], "UPDATE tasks SET status = 'running', owner", f"'{tid}', NULL, 'task_started'",
                    "UPDATE steps SET status = 'running'", f"'{tid}', 'check', 'step_started'")
    assert _holding([ended], f"'{tid}', 'check', 'step_completed'", "INSERT INTO reviews",
                    "UPDATE tasks SET status = 'completed'", f"'{tid}', NULL, 'task_completed'")


def test_tasks_side_by_side_share_their_commits(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several runners' changes share the open batch: never more than two commits a task
    (five before issue 13: claim, step start, step end, review, task end)."""
    check = tmp_path / "check.py"
    check.write_text(CHECK)
    ids, transactions = _serve(home, monkeypatch, 6, check)
    assert len(transactions) <= 2 * len(ids), [[sql[:80] for sql in tx] for tx in transactions]


def test_a_claimed_task_is_committed_before_its_step_runs(orch, tmp_path: Path, home: Path) -> None:
    """Through the real daemon: each step (a process of its own) finds its task claimed and
    itself running in the database, although the engine committed both together."""
    check = tmp_path / "check.py"
    check.write_text(CHECK)
    plan = {"steps": [{"name": "check", "run": [sys.executable, str(check)],
                       "env": {"CHECK_DB": str(home / "agency.db")}}]}
    ids = [orch.submit_task({"plan": plan, "description": f"durable {i}"}) for i in range(6)]
    for tid in ids:  # a failed check fails its step, and so its task
        assert wait_status(orch, tid, lambda s: s["status"] in ("completed", "failed"), timeout=60)["status"] \
            == "completed", orch.get_status(tid)

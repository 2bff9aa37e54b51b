"""Group commit: batched step transitions are committed before anything acts on them.

Each Python step opens its own connection to the database and checks that its own
RUNNING row and its dependencies' COMPLETED rows are already committed when it runs.
Shell steps check the same with the sqlite3 module of the interpreter running them.
"""

from __future__ import annotations

import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

from agent_agency_cli.orchestrator import TaskOrchestrator

STEPS_PY = textwrap.dedent(
    """
    import os
    import sqlite3

    def check(ctx):
        conn = sqlite3.connect(os.environ["GC_DB"])
        try:
            rows = dict(conn.execute(
                "SELECT name, status FROM steps WHERE task_id = ?", (ctx.task_id,)).fetchall())
        finally:
            conn.close()
        assert rows[ctx.step] == "running", (ctx.step, rows[ctx.step])
        for dep in os.environ.get("GC_NEEDS_" + ctx.step, "").split():
            assert rows[dep] == "completed", (ctx.step, dep, rows[dep])
        return "ok"
    """
)

SHELL_CHECK = textwrap.dedent(
    """
    import os, sqlite3, sys
    step, needs = sys.argv[1], sys.argv[2:]
    conn = sqlite3.connect(os.environ["GC_DB"])
    rows = dict(conn.execute("SELECT name, status FROM steps WHERE task_id = ?",
                             (os.environ["AGENT_AGENCY_TASK_ID"],)).fetchall())
    assert rows[step] == "running", (step, rows[step])
    for dep in needs:
        assert rows[dep] == "completed", (step, dep, rows[dep])
    """
)


def _run(home: Path, tmp_path: Path, steps: list[dict], concurrency: int) -> tuple[str, str]:
    orch = TaskOrchestrator(home=home)
    try:
        tid = orch.submit_task(
            {"plan": {"steps": steps}, "description": "group commit", "workdir": str(tmp_path),
             "concurrency": concurrency},
            start_daemon=False,
        )
        status = orch.run_foreground(tid)
        return tid, str(status)
    finally:
        orch.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AGENT_AGENCY_HOME", str(home))
    monkeypatch.delenv("AGENT_AGENCY_CONFIG", raising=False)
    monkeypatch.setenv("GC_DB", str(TaskOrchestrator(home=home).paths.db))
    return home


def test_python_steps_see_their_own_and_their_dependencies_rows_committed(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gcsteps.py").write_text(STEPS_PY)
    steps = []
    for i in range(40):  # a wide layer, then steps that each need two of it
        steps.append({"name": f"a{i}", "python": "gcsteps:check"})
    for i in range(20):
        needs = [f"a{2 * i}", f"a{2 * i + 1}"]
        monkeypatch.setenv(f"GC_NEEDS_b{i}", " ".join(needs))
        steps.append({"name": f"b{i}", "python": "gcsteps:check", "needs": needs})
    tid, status = _run(home, tmp_path, steps, 8)
    assert "completed" in status.lower()
    conn = sqlite3.connect(TaskOrchestrator(home=home).paths.db)
    rows = conn.execute("SELECT status, COUNT(*) FROM steps WHERE task_id = ? GROUP BY status",
                        (tid,)).fetchall()
    assert rows == [("completed", 60)]
    # Every step has exactly one started and one completed event, in that order.
    events = conn.execute("SELECT step, kind FROM events WHERE task_id = ? AND step IS NOT NULL "
                          "AND kind IN ('step_started', 'step_completed') ORDER BY id",
                          (tid,)).fetchall()
    seen: dict[str, list[str]] = {}
    for step, kind in events:
        seen.setdefault(step, []).append(kind)
    assert all(kinds == ["step_started", "step_completed"] for kinds in seen.values())
    assert len(seen) == 60


def test_shell_steps_see_their_rows_committed_and_keep_their_pid(
    home: Path, tmp_path: Path
) -> None:
    (tmp_path / "check.py").write_text(SHELL_CHECK)
    py = sys.executable
    steps = [{"name": f"a{i}", "run": [py, str(tmp_path / "check.py"), f"a{i}"]}
             for i in range(6)]
    steps.append({"name": "b", "run": [py, str(tmp_path / "check.py"), "b", "a0", "a1"],
                  "needs": ["a0", "a1"]})
    tid, status = _run(home, tmp_path, steps, 2)
    assert "completed" in status.lower()
    conn = sqlite3.connect(TaskOrchestrator(home=home).paths.db)
    pids = conn.execute("SELECT pid FROM steps WHERE task_id = ?", (tid,)).fetchall()
    assert len(pids) == 7 and all(p[0] for p in pids)  # written lazily, but written

"""Shared helpers for the benchmark scripts (not a benchmark itself).

Every script runs against a throw-away data home and removes it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STEPS_MODULE = '''\
def noop(ctx):
    return None
'''


def machine() -> str:
    import agent_agency_cli

    code = Path(agent_agency_cli.__file__).parent
    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}; "
            f"code under test: {code}")


@contextlib.contextmanager
def temp_home() -> Iterator[Path]:
    """A temp data home with `benchsteps.py` in it; cwd and AGENT_AGENCY_HOME point there.

    Dict plans resolve python steps against the current working directory.
    """
    old_cwd = os.getcwd()
    old_env = os.environ.get("AGENT_AGENCY_HOME")
    with tempfile.TemporaryDirectory(prefix="aac-bench-") as tmp:
        home = Path(tmp)
        (home / "benchsteps.py").write_text(STEPS_MODULE)
        os.environ["AGENT_AGENCY_HOME"] = str(home)
        os.chdir(home)
        try:
            yield home
        finally:
            os.chdir(old_cwd)
            if old_env is None:
                os.environ.pop("AGENT_AGENCY_HOME", None)
            else:
                os.environ["AGENT_AGENCY_HOME"] = old_env


def run_plan(home: Path, steps: list[dict[str, Any]], concurrency: int) -> tuple[float, str]:
    """Submit a task in `home` and run it with run_foreground; (run seconds, final status)."""
    from agent_agency_cli.orchestrator import TaskOrchestrator

    orch = TaskOrchestrator(home=home)
    try:
        tid = orch.submit_task(
            {"plan": {"steps": steps}, "description": "bench", "concurrency": concurrency},
            start_daemon=False,
        )
        t0 = time.perf_counter()
        status = orch.run_foreground(tid)
        elapsed = time.perf_counter() - t0
        got = orch.get_status(tid)
        done = got["progress"]["done"]
        if done != len(steps):
            sys.exit(f"benchmark task ended {status} with {done}/{len(steps)} steps done")
        return elapsed, str(status)
    finally:
        orch.close()


_BASELINE_SCHEMA = """
CREATE TABLE steps (
    task_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    started_at REAL, finished_at REAL, PRIMARY KEY (task_id, name));
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, step TEXT,
    kind TEXT NOT NULL, payload TEXT NOT NULL DEFAULT '{}', ts REAL NOT NULL);
CREATE INDEX events_by_task ON events(task_id, id);
"""


def bare_commit_loop(n_steps: int) -> float:
    """Seconds for a bare loop making the engine's commits: 2 per step (start + finish).

    Same durability as the engine (WAL, synchronous=NORMAL, autocommit connection);
    each commit is BEGIN IMMEDIATE + one UPDATE + one INSERT + COMMIT, in a temp db.
    """
    with tempfile.TemporaryDirectory(prefix="aac-bench-db-") as tmp:
        conn = sqlite3.connect(str(Path(tmp) / "b.db"), isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_BASELINE_SCHEMA)
            conn.executemany(
                "INSERT INTO steps (task_id, name, status) VALUES ('t', ?, 'pending')",
                [(f"s{i}",) for i in range(n_steps)],
            )
            t0 = time.perf_counter()
            for i in range(n_steps):
                name = f"s{i}"
                for old, new, kind, col in (("pending", "running", "step_started", "started_at"),
                                            ("running", "completed", "step_completed",
                                             "finished_at")):
                    now = time.time()
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(
                        f"UPDATE steps SET status = ?, {col} = ? "
                        "WHERE task_id = 't' AND name = ? AND status = ?",
                        (new, now, name, old),
                    )
                    conn.execute(
                        "INSERT INTO events (task_id, step, kind, payload, ts) "
                        "VALUES ('t', ?, ?, ?, ?)",
                        (name, kind, f'{{"status":"{new}"}}', now),
                    )
                    conn.execute("COMMIT")
            return time.perf_counter() - t0
        finally:
            conn.close()


def best_of(n: int, fn: Any, *args: Any) -> float:
    return min(fn(*args) for _ in range(n))


def met(ok: bool) -> str:
    return "MET" if ok else "MISSED"

"""`task status` on a task with many steps (default 100,000), plain and --json.

Figure: seconds per `task status` (target <= 2 s for 100,000 steps, both forms).
Baseline: reading the task's step rows with one SELECT, measured in this run.

    .venv/bin/python bench/status_large.py [STEPS]
"""

from __future__ import annotations

import io
import sqlite3
import sys
import time
from contextlib import redirect_stdout

from _common import machine, met, temp_home

TARGET = 2.0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"machine: {machine()}")
    from typer.testing import CliRunner

    from agent_agency_cli.cli.main import app
    from agent_agency_cli.orchestrator import TaskOrchestrator

    with temp_home() as home:
        orch = TaskOrchestrator(home=home)
        t0 = time.perf_counter()
        tid = orch.submit_task({"plan": {"steps": [{"name": f"s{i}", "run": "true"} for i in range(n)]},
                                "description": "many steps"}, start_daemon=False)
        orch.close()
        print(f"setup: {n:,} steps submitted in {time.perf_counter() - t0:.1f} s")
        conn = sqlite3.connect(home / "agency.db")
        t0 = time.perf_counter()
        rows = conn.execute("SELECT * FROM steps WHERE task_id = ?", (tid,)).fetchall()
        base = time.perf_counter() - t0
        conn.close()
        assert len(rows) == n
        print(f"baseline: SELECT of {n:,} step rows in {base:.3f} s")
        runner = CliRunner()
        figures: dict[str, float] = {}
        cpu: dict[str, float] = {}  # CPU seconds: the figure that holds on a loaded machine
        for label, args in (("plain", []), ("json", ["--json"])):
            out = io.StringIO()
            t0, c0 = time.perf_counter(), time.process_time()
            with redirect_stdout(out):
                res = runner.invoke(app, ["--home", str(home), "task", "status", tid, *args])
            figures[label] = time.perf_counter() - t0
            cpu[label] = time.process_time() - c0
            if res.exit_code != 0:
                sys.exit(f"status {label} exited {res.exit_code}: {res.output[-500:]}")
            lines = res.output.count("\n")
            print(f"task status ({label}): {figures[label]:.2f} s wall, {cpu[label]:.2f} s CPU, {lines:,} lines; "
                  f"ratio to baseline {figures[label] / base:.1f}")
        worst = max(figures.values())
        print(f"RESULT status_large: plain {figures['plain']:.2f} s ({cpu['plain']:.2f} s CPU), json "
              f"{figures['json']:.2f} s ({cpu['json']:.2f} s CPU) for {n:,} steps; baseline {base:.3f} s; "
              f"target <= {TARGET} s: {met(worst <= TARGET)}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

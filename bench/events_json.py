"""`task events --json` on a task with 20,000 events (a 10,000-step task's start and end).

Figures: the whole command (a process, median of 5) and its writing part alone
(in-process into /dev/null): the buffered writer (`write_json_lines`) against the
per-line writer it replaced (`print_json_line`: encode, write, flush per event),
measured in the same run on the same events.

    .venv/bin/python bench/events_json.py [N_EVENTS]
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, temp_home

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
CLI = shutil.which("agent-agency-cli", path=str(Path(sys.executable).parent)) or "agent-agency-cli"


def main() -> None:
    from agent_agency_cli.cli.common import print_json_line, write_json_lines
    from agent_agency_cli.orchestrator import TaskOrchestrator

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    with temp_home() as home:
        with TaskOrchestrator(home=home) as orch:
            tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False)
        conn = sqlite3.connect(str(home / "agency.db"), isolation_level=None)
        conn.executemany(
            "INSERT INTO events (task_id, step, kind, payload, ts) VALUES (?, ?, ?, ?, ?)",
            [(tid, f"s{i // 2:05d}", "step_completed" if i % 2 else "step_started",
              json.dumps({"status": "completed" if i % 2 else "running", "attempt": 1}), time.time())
             for i in range(N)])
        conn.close()
        with TaskOrchestrator(home=home) as orch:
            events = orch.events(tid, 0, 100_000)
        old, new = [], []
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            for _ in range(5):
                t0 = time.perf_counter()
                for ev in events:
                    print_json_line(ev)
                old.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                write_json_lines(events)
                new.append(time.perf_counter() - t0)
        whole = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([CLI, "task", "events", tid, "--json"], check=True, stdout=subprocess.DEVNULL,
                           env={**os.environ, "AGENT_AGENCY_HOME": str(home)})
            whole.append(time.perf_counter() - t0)
    o, n = statistics.median(old), statistics.median(new)
    print(f"RESULT events_json[writing {len(events):,} events]: {n * 1000:.0f} ms vs per-line writer "
          f"{o * 1000:.0f} ms; ratio {n / o:.2f}x")
    print(f"RESULT events_json[task events --json, whole command]: median {statistics.median(whole) * 1000:.0f} ms "
          f"(runs {', '.join(f'{w * 1000:.0f}' for w in whole)})")


if __name__ == "__main__":
    main()

"""`task events --json` on a task with 20,000 events (a 10,000-step task's start and end).

Figures: the whole command (a process with a bytecode cache, median of 5, wall and CPU,
beside `python -c pass`); reading and writing in-process into /dev/null: lines spliced from
the stored payloads (`orch.event_lines`) against decoding every payload (`orch.events`); and
the writing part alone: the buffered writer (`write_json_lines`) against the per-line
writer it replaced (`print_json_line`: encode, write, flush per event). Payloads are stored
compact, as the store writes them.

    .venv/bin/python bench/events_json.py [N_EVENTS]
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
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
    from agent_agency_cli.cli.common import print_json_line, write_json_lines, write_lines
    from agent_agency_cli.orchestrator import TaskOrchestrator

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    with temp_home() as home:
        with TaskOrchestrator(home=home) as orch:
            tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False)
        conn = sqlite3.connect(str(home / "agency.db"), isolation_level=None)
        conn.executemany(
            "INSERT INTO events (task_id, step, kind, payload, ts) VALUES (?, ?, ?, ?, ?)",
            [(tid, f"s{i // 2:05d}", "step_completed" if i % 2 else "step_started",
              json.dumps({"status": "completed" if i % 2 else "running", "attempt": 1}, separators=(",", ":")),
              time.time())
             for i in range(N)])
        conn.close()
        with TaskOrchestrator(home=home) as orch:
            events = orch.events(tid, 0, 100_000)
            old, new, decoded, spliced = [], [], [], []
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                for _ in range(5):
                    t0 = time.perf_counter()
                    for ev in events:
                        print_json_line(ev)
                    old.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    write_json_lines(events)
                    new.append(time.perf_counter() - t0)
                    # read + write, as the command did (decode every payload) and does now (splice)
                    t0 = time.perf_counter()
                    write_json_lines(orch.events(tid, 0, 100_000))
                    decoded.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    write_lines(orch.event_lines(tid))
                    spliced.append(time.perf_counter() - t0)
        # With a bytecode cache, as an installed tool has (this machine sets PYTHONDONTWRITEBYTECODE).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(AGENT_AGENCY_HOME=str(home), PYTHONPYCACHEPREFIX=str(home / "pycache"))
        whole: list[tuple[float, float]] = []
        start: list[tuple[float, float]] = []
        for i in range(6):
            for args, into in (([sys.executable, "-c", "pass"], start),
                               ([CLI, "task", "events", tid, "--json"], whole)):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=env)
                wall = time.perf_counter() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if i:  # the first round writes the bytecode cache
                    into.append((wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime))
    o, n = statistics.median(old), statistics.median(new)
    print(f"RESULT events_json[writing {len(events):,} events]: {n * 1000:.0f} ms vs per-line writer "
          f"{o * 1000:.0f} ms; ratio {n / o:.2f}x")
    d, sp = statistics.median(decoded), statistics.median(spliced)
    print(f"RESULT events_json[read + write {len(events):,} events in-process]: spliced lines {sp * 1000:.0f} ms vs "
          f"decoding every payload {d * 1000:.0f} ms; ratio {sp / d:.2f}x")
    w = (statistics.median(x[0] for x in whole), statistics.median(x[1] for x in whole))
    b = (statistics.median(x[0] for x in start), statistics.median(x[1] for x in start))
    print(f"RESULT events_json[task events --json, whole command]: median {w[0] * 1000:.0f} ms wall, "
          f"{w[1] * 1000:.0f} ms CPU; python -c pass {b[0] * 1000:.0f} ms wall, {b[1] * 1000:.0f} ms CPU; "
          f"ratio {w[1] / b[1]:.1f}x (CPU)")


if __name__ == "__main__":
    main()

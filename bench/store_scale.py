"""A store that grows: 100,000 finished tasks against an empty store, same run.

Figures (each the median of interleaved runs, big store / empty store):
The 'empty' store holds one page (50 tasks), so that both pages render the same rows.

- `orch.list_tasks(limit=50)` in-process (the default page of `task list`, the dashboard feed);
- `agent-agency-cli task list --json` (default page) as a process (target <= 2x);
- `agent-agency-cli task list --limit 0 --json`: seconds and peak RSS (the streaming target);
- the daemon's idle CPU over a window (after its start-up and first archive sweep), as % of
  one core, the median of two interleaved rounds, from the kernel's nanosecond counters
  (target <= 1.2x). With IDLE_ONLY=1 only this part runs.

The big store is built with SQL from one real submitted task (its rows copied with
new ids and times), so every column holds what the engine writes.

    .venv/bin/python bench/store_scale.py [N_TASKS] [IDLE_WINDOW_S]
    IDLE_ONLY=1 .venv/bin/python bench/store_scale.py 100000 12   # the idle figure alone, ~1 min
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
from _common import machine, met, temp_home

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
WINDOW = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
REPEATS = 5
CLI = shutil.which("agent-agency-cli", path=str(Path(sys.executable).parent)) or "agent-agency-cli"


def _seed(home: Path) -> str:
    from agent_agency_cli.orchestrator import TaskOrchestrator

    orch = TaskOrchestrator(home=home)
    try:
        tid = orch.submit_task({"plan": {"steps": [{"name": "s", "run": "true"}]}, "description": "seed"},
                               start_daemon=False)
        orch.run_foreground(tid)
        return tid
    finally:
        orch.close()


def _copy_rows(conn: sqlite3.Connection, table: str, tid: str, n: int, overrides: dict[str, str]) -> None:
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    if table == "events":
        cols.remove("id")
    select = ", ".join(overrides.get(c, c) for c in cols)
    conn.execute(
        f"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) "
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM c, {table} src WHERE src.task_id = ?"
        if table != "tasks" else
        f"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) "
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM c, {table} src WHERE src.id = ?",
        (tid,))


def build_store(home: Path, n: int) -> None:
    """n finished tasks (1 step, its events) cloned from one real task, oldest a month ago."""
    tid = _seed(home)
    conn = sqlite3.connect(str(home / "agency.db"), isolation_level=None)
    try:
        now = time.time()
        new_id = "printf('b%07d', i)"
        t = f"({now} - 2592000 + i * 20.0)"
        conn.execute("BEGIN")
        _copy_rows(conn, "tasks", tid, n, {"id": new_id, "created_at": t, "started_at": t,
                                           "finished_at": f"{t} + 1", "updated_at": f"{t} + 1"})
        _copy_rows(conn, "steps", tid, n, {"task_id": new_id})
        _copy_rows(conn, "events", tid, n, {"task_id": new_id})
        conn.execute("COMMIT")
    finally:
        conn.close()


def _cli(home: Path, *args: str) -> tuple[float, int, int]:
    """(seconds, peak RSS bytes, stdout bytes) of one CLI run."""
    env = {**os.environ, "AGENT_AGENCY_HOME": str(home)}
    t0 = time.perf_counter()
    proc = psutil.Popen([CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    out = bytearray()
    assert proc.stdout is not None
    while True:  # read while sampling: the output is large and the pipe must not fill
        chunk = proc.stdout.read1(1 << 20)  # type: ignore[attr-defined]
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            pass
        if not chunk:
            break
        out += chunk
    rc = proc.wait()
    elapsed = time.perf_counter() - t0
    if rc != 0:
        sys.exit(f"{args} exited {rc}: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
    return elapsed, peak, len(out)


def _in_process_page(home: Path) -> float:
    from agent_agency_cli.orchestrator import TaskOrchestrator

    orch = TaskOrchestrator(home=home)
    try:
        orch.list_tasks(limit=50)
        t0 = time.perf_counter()
        for _ in range(20):
            orch.list_tasks(limit=50)
        return (time.perf_counter() - t0) / 20
    finally:
        orch.close()


def _cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` in nanoseconds (/proc/PID/task/*/schedstat): psutil's
    cpu_times count 10 ms ticks, and an idle daemon uses a few ticks a second, so a 30 s window
    of ticks moved the ratio by +-10% on its own."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    return total


# The daemon's first archive sweep runs 5 s after its start (engine.ARCHIVE_SWEEP_INTERVAL
# then every 10 min): on a month-old store it archives the tasks past retention. That is
# work, not idleness; the window opens after it.
SETTLE_S = 7.0


def _idle_cpu(home: Path, window: float) -> float:
    env = {**os.environ, "AGENT_AGENCY_HOME": str(home)}
    subprocess.run([CLI, "daemon", "start"], env=env, check=True, capture_output=True)
    try:
        import json

        pid = json.loads((home / "daemon.json").read_text())["pid"]
        time.sleep(SETTLE_S)  # start-up (recovery scan, imports) and the first sweep are behind it
        c0, t0 = _cpu_ns(pid), time.monotonic()
        time.sleep(window)
        return (_cpu_ns(pid) - c0) / 1e9 / (time.monotonic() - t0) * 100
    finally:
        subprocess.run([CLI, "daemon", "stop"], env=env, capture_output=True)


def _idle_rounds(homes: dict[str, Path], window: float, rounds: int = 2) -> dict[str, float]:
    """Median idle CPU per store over interleaved rounds (empty, big, empty, big)."""
    got: dict[str, list[float]] = {name: [] for name in homes}
    for _ in range(rounds):
        for name, h in homes.items():
            got[name].append(_idle_cpu(h, window))
    print("idle CPU per round (% of a core): " + "; ".join(
        f"{name} {', '.join(f'{v:.3f}' for v in values)}" for name, values in got.items()))
    return {name: statistics.median(values) for name, values in got.items()}


IDLE_ONLY = os.environ.get("IDLE_ONLY") == "1"


def main() -> None:
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    with temp_home() as empty_home:
        (empty_home / "big").mkdir(mode=0o700)
        big_home = empty_home / "big"
        build_store(empty_home, 49)  # the 'empty' store holds one page: both pages do the same work
        t0 = time.perf_counter()
        build_store(big_home, N)
        print(f"built a store of {N + 1:,} tasks in {time.perf_counter() - t0:.1f} s "
              f"({(big_home / 'agency.db').stat().st_size / 1e6:.0f} MB)")
        os.environ["AGENT_AGENCY_HOME"] = str(big_home)
        _cli(big_home, "task", "list", "--json")  # migrations and page cache warm
        _cli(empty_home, "task", "list", "--json")
        if not IDLE_ONLY:
            _list_figures(empty_home, big_home)
        idle = _idle_rounds({"empty": empty_home, "big": big_home}, WINDOW)
    ratio = idle["big"] / max(idle["empty"], 1e-9)
    print(f"RESULT store_scale[daemon idle CPU]: {idle['big']:.3f}% vs {idle['empty']:.3f}% of a core empty "
          f"({WINDOW:g} s windows after a {SETTLE_S:g} s settle, median of 2 interleaved rounds); ratio "
          f"{ratio:.2f}x; target <= 1.2x: {met(ratio <= 1.2)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def _list_figures(empty_home: Path, big_home: Path) -> None:
    page: dict[str, list[float]] = {"empty": [], "big": []}
    cli_page: dict[str, list[float]] = {"empty": [], "big": []}
    everything: dict[str, list[tuple[float, int, int]]] = {"empty": [], "big": []}
    for _ in range(REPEATS):
        for name, h in (("empty", empty_home), ("big", big_home)):
            page[name].append(_in_process_page(h))
            cli_page[name].append(_cli(h, "task", "list", "--json")[0])
    for _ in range(2):
        for name, h in (("empty", empty_home), ("big", big_home)):
            everything[name].append(_cli(h, "task", "list", "--limit", "0", "--json"))
    med = {k: statistics.median(v) for k, v in page.items()}
    ratio = med["big"] / med["empty"]
    print(f"RESULT store_scale[list page, in-process]: {med['big'] * 1000:.2f} ms vs {med['empty'] * 1000:.2f} ms "
          f"empty; ratio {ratio:.2f}x; target <= 2x: {met(ratio <= 2)}")
    cmed = {k: statistics.median(v) for k, v in cli_page.items()}
    ratio = cmed["big"] / cmed["empty"]
    print(f"RESULT store_scale[task list --json]: {cmed['big'] * 1000:.0f} ms vs {cmed['empty'] * 1000:.0f} ms "
          f"empty; ratio {ratio:.2f}x; target <= 2x: {met(ratio <= 2)}")
    big = min(everything["big"])
    small = min(everything["empty"])
    print(f"RESULT store_scale[task list --limit 0 --json]: {big[0]:.2f} s, peak RSS {big[1] / 2**20:.0f} MiB, "
          f"{big[2] / 1e6:.1f} MB out (empty store: {small[0]:.2f} s, {small[1] / 2**20:.0f} MiB); "
          f"RSS ratio {big[1] / small[1]:.2f}x")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

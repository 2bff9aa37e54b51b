"""Crash recovery time: SIGKILL a daemon running 20 tasks, start a new one, and time
how long until every task's step runs again.

The daemon (`task_execution.max_concurrent_tasks: 20`) is started with
`agent-agency-cli daemon start`; 20 tasks, each one `idempotent: true` shell step
`sleep 30`, are submitted and run. Then, per round: SIGKILL the daemon, spawn
`python -m agent_agency_cli.engine.daemon --home H` directly and poll the database
every ~2 ms until all 20 steps are `running` again on a new attempt with a new pid:
that is the recovery time. The events the new daemon commits split it into: daemon
up (daemon.json names a live process), the orphans recovered (last `task_recovered`),
the first and the last re-run `step_started`. Also checked: no process of the old
attempts is left alive.

Baseline, same run and same way of spawning: spawn -> daemon.json alive with no
tasks (median of 5 starts). No target is set; the ratio is printed.

    .venv/bin/python bench/recovery_time.py [--tasks 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from _common import machine, temp_home

BIN = Path(sys.executable).parent
CLI = shutil.which("agent-agency-cli", path=str(BIN)) or "agent-agency-cli"
BASE_STARTS = 5
CONFIG = """\
task_execution:
  max_concurrent_tasks: {tasks}
daemon:
  stop_timeout: 2s
"""


def wait_for(cond: Callable[[], object], timeout: float, what: str, every: float = 0.002) -> object:
    end = time.time() + timeout
    while time.time() < end:
        got = cond()
        if got:
            return got
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def spawn_daemon(home: Path) -> subprocess.Popen:
    with open(home / "daemon.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "agent_agency_cli.engine.daemon", "--home", str(home)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=20, help="tasks running when the daemon dies (default 20)")
    ap.add_argument("--rounds", type=int, default=3, help="kill/recover rounds (default 3)")
    args = ap.parse_args()
    n = args.tasks

    from agent_agency_cli.engine.daemon import read_info
    from agent_agency_cli.orchestrator import TaskOrchestrator
    from agent_agency_cli.paths import HomePaths
    from agent_agency_cli.procgroup import kill_orphan_group

    base_s: list[float] = []
    rounds: list[dict[str, float]] = []
    cli_start_s = float("nan")
    leftovers = 0

    with temp_home() as home:
        (home / "config.yaml").write_text(CONFIG.format(tasks=n))
        env = {**os.environ, "AGENT_AGENCY_HOME": str(home)}
        env.pop("AGENT_AGENCY_CONFIG", None)
        paths = HomePaths(home)
        orch = TaskOrchestrator(home=home)
        orch.list_tasks()  # creates the database
        children: list[subprocess.Popen] = []
        db = sqlite3.connect(home / "agency.db", isolation_level=None)
        try:
            # -- baseline: spawn -> daemon.json alive, no tasks ---------------------------
            for _ in range(BASE_STARTS):
                t0 = time.time()
                proc = spawn_daemon(home)
                children.append(proc)
                info = wait_for(lambda: read_info(paths), 20, "the daemon to start")
                base_s.append(time.time() - t0)
                os.kill(info["pid"], signal.SIGTERM)
                proc.wait(20)

            # -- 20 running tasks under a daemon started by the CLI ----------------------
            t0 = time.time()
            res = subprocess.run([CLI, "daemon", "start"], env=env, capture_output=True, text=True, timeout=60)
            cli_start_s = time.time() - t0
            if res.returncode != 0:
                raise RuntimeError(f"daemon start exited {res.returncode}: {res.stderr.strip()}")
            plan = {"steps": [{"name": "work", "run": "sleep 30", "idempotent": True}]}
            tids = [orch.submit_task({"plan": plan, "description": f"recovery benchmark {i}"},
                                     start_daemon=False) for i in range(n)]
            marks = ",".join("?" * n)

            def steps() -> list[tuple]:
                return db.execute(f"SELECT task_id, status, attempt, pid FROM steps WHERE task_id IN ({marks})",
                                  tids).fetchall()

            wait_for(lambda: sum(s[1] == "running" and s[3] is not None for s in steps()) == n, 60,
                     f"{n} running steps")
            for _ in range(args.rounds):
                before = {s[0]: (s[2], s[3]) for s in steps()}
                info = read_info(paths)
                if info is None:
                    raise RuntimeError("no daemon runs")
                os.kill(info["pid"], signal.SIGKILL)
                wait_for(lambda info=info: not alive(info["pid"]), 10, "the daemon to die")
                for c in children:
                    c.poll()  # reap ours
                old_pids = [pid for _, pid in before.values()]
                last_ev = db.execute("SELECT max(id) FROM events").fetchone()[0]

                def recovered(before: dict = before) -> bool:
                    rows = steps()
                    return all(s[1] == "running" and s[2] > before[s[0]][0] and s[3] is not None
                               and s[3] != before[s[0]][1] for s in rows)

                t0 = time.time()
                children.append(spawn_daemon(home))
                up = wait_for(lambda: read_info(paths) and time.time(), 20, "the new daemon")
                wait_for(recovered, 60, "every step to run again")
                t1 = time.time()
                evs = db.execute("SELECT kind, ts FROM events WHERE id > ? AND kind IN "
                                 "('task_recovered', 'step_started')", (last_ev,)).fetchall()
                rec = [ts for k, ts in evs if k == "task_recovered"]
                started = [ts for k, ts in evs if k == "step_started"]
                leftovers += sum(alive(p) for p in old_pids if p)
                rounds.append({"total": t1 - t0, "up": up - t0,
                               "recovered": max(rec) - t0 if rec else float("nan"),
                               "first": min(started) - t0 if started else float("nan"),
                               "last": max(started) - t0 if started else float("nan")})
                time.sleep(0.5)

            for tid in tids:
                with contextlib.suppress(Exception):
                    orch.cancel(tid, "benchmark over")
        finally:
            try:
                subprocess.run([CLI, "daemon", "stop", "--timeout", "20"], env=env, capture_output=True,
                               timeout=40)
            except subprocess.TimeoutExpired:
                pass
            info = read_info(paths)
            if info:
                os.kill(info["pid"], signal.SIGKILL)
            for c in children:
                if c.poll() is None:
                    c.kill()
                    c.wait()
            with contextlib.suppress(sqlite3.Error):
                for pgid, started in db.execute("SELECT pgid, started_at FROM steps WHERE pgid IS NOT NULL"):
                    kill_orphan_group(pgid, started)
            db.close()
            orch.close()

    base = statistics.median(base_s)
    tot = [r["total"] for r in rounds]
    med = statistics.median(tot)
    print(f"crash recovery: {n} running tasks (idempotent `sleep 30` steps), daemon SIGKILLed, "
          f"a new one spawned; {len(rounds)} rounds")
    print(f"machine: {machine()}")
    print(f"baseline: spawn -> daemon.json alive, no tasks: median {base:.3f} s "
          f"({', '.join(f'{b:.3f}' for b in base_s)}); `agent-agency-cli daemon start` took {cli_start_s:.3f} s")
    for i, r in enumerate(rounds, 1):
        print(f"round {i}: all {n} steps running again after {r['total']:.3f} s  (daemon up {r['up']:.3f}, "
              f"orphans recovered {r['recovered']:.3f}, first step started {r['first']:.3f}, "
              f"last {r['last']:.3f})")
    print(f"processes of the killed attempts still alive after recovery: {leftovers}")
    print(f"RESULT recovery_time: {n} tasks running again {med:.2f} s after the new daemon's spawn "
          f"(median of {len(rounds)}: {', '.join(f'{t:.2f}' for t in tot)}); baseline daemon start "
          f"{base:.2f} s; ratio {med / base:.1f}x; old processes left {leftovers}")
    return 0 if not leftovers else 1


if __name__ == "__main__":
    sys.exit(main())

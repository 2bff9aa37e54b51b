"""Idle CPU: what a daemon and a follower cost while nothing happens.

Phase A (30 s): a daemon (`agent-agency-cli daemon start`) with no tasks: its CPU time
(psutil, user + system) over the window, as % of one core.
Phase B (30 s): one task whose shell step is `sleep 120`, followed by
`agent-agency-cli task watch ID --plain`: the follower's CPU and the daemon's CPU over
the same window (the follower's start-up is left out: the window opens once it has
printed the task's first events). Target: the idle follower < 2% of one core.

Baselines, running alongside over the same windows and measured the same way: a
`sleep` process (~0) and a bare Python loop polling `PRAGMA data_version` every 50 ms
on the same database (the floor of a design that polls SQLite at the daemon's
poll_interval; the follower also polls every 50 ms).

    .venv/bin/python bench/idle_cpu.py [--window 30]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from _common import machine, met, temp_home

BIN = Path(sys.executable).parent
CLI = shutil.which("agent-agency-cli", path=str(BIN)) or "agent-agency-cli"
TARGET_PCT = 2.0
CONFIG = """\
daemon:
  stop_timeout: 2s
"""

POLL_LOOP = r"""
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
changes, last = 0, None
print("ready", flush=True)
while True:
    v = db.execute("PRAGMA data_version").fetchone()[0]
    if v != last:
        changes, last = changes + 1, v
        print(changes, flush=True)
    time.sleep(0.05)
"""


def cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


class Baselines:
    """A `sleep` process and the bare data_version polling loop, measured like the rest."""

    def __init__(self, db: Path, window: float):
        self.sleep = subprocess.Popen(["sleep", f"{window + 30:g}"])
        self.loop = subprocess.Popen([sys.executable, "-c", POLL_LOOP, str(db)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.loop.stdout is not None
        self.loop.stdout.readline()  # connected: its start-up is behind it
        self.changes = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.c0 = cpu_seconds(self.sleep.pid), cpu_seconds(self.loop.pid)
        self.t0 = time.monotonic()

    def kill(self) -> None:
        for p in (self.sleep, self.loop):
            if p.poll() is None:
                p.kill()
                p.wait()

    def _read(self) -> None:
        assert self.loop.stdout is not None
        for _ in self.loop.stdout:
            self.changes += 1

    def finish(self) -> tuple[float, float, int]:
        """(% of a core for sleep, % for the loop, data_version changes the loop saw)."""
        wall = time.monotonic() - self.t0
        c1 = cpu_seconds(self.sleep.pid), cpu_seconds(self.loop.pid)
        self.kill()
        return 100 * (c1[0] - self.c0[0]) / wall, 100 * (c1[1] - self.c0[1]) / wall, self.changes - 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=float, default=30.0, help="seconds per phase (default 30)")
    args = ap.parse_args()
    window = args.window

    from agent_agency_cli.orchestrator import TaskOrchestrator
    from agent_agency_cli.procgroup import kill_orphan_group

    with temp_home() as home:
        (home / "config.yaml").write_text(CONFIG)
        env = {**os.environ, "AGENT_AGENCY_HOME": str(home)}
        env.pop("AGENT_AGENCY_CONFIG", None)
        orch = TaskOrchestrator(home=home)
        orch.list_tasks()  # creates the database
        db_path = home / "agency.db"
        follower: subprocess.Popen | None = None
        baselines: list[Baselines] = []
        daemon_pid = None
        try:
            res = subprocess.run([CLI, "daemon", "start"], env=env, capture_output=True, text=True, timeout=60)
            if res.returncode != 0:
                raise RuntimeError(f"daemon start exited {res.returncode}: {res.stderr.strip()}")
            daemon_pid = json.loads((home / "daemon.json").read_text())["pid"]
            time.sleep(1.0)  # let its start-up CPU pass

            # -- phase A: idle daemon ---------------------------------------------------
            base_a = Baselines(db_path, window)
            baselines.append(base_a)
            d0, t0 = cpu_seconds(daemon_pid), time.monotonic()
            time.sleep(window)
            daemon_idle = 100 * (cpu_seconds(daemon_pid) - d0) / (time.monotonic() - t0)
            sleep_a, loop_a, changes_a = base_a.finish()

            # -- phase B: one idle running task and a follower --------------------------
            tid = orch.submit_task({"plan": {"steps": [{"name": "idle", "run": "sleep 120"}]},
                                    "description": "idle CPU benchmark"}, start_daemon=False)
            end = time.time() + 20
            while orch.get_status(tid)["steps"][0]["pid"] is None:
                if time.time() > end:
                    raise RuntimeError("the task's step did not start")
                time.sleep(0.01)
            follower = subprocess.Popen([CLI, "task", "watch", tid, "--plain"], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
            lines: list[str] = []
            first = threading.Event()

            def read() -> None:
                assert follower is not None and follower.stdout is not None
                for line in follower.stdout:
                    lines.append(line)
                    first.set()

            threading.Thread(target=read, daemon=True).start()
            if not first.wait(20):
                raise RuntimeError("the follower printed nothing")
            time.sleep(0.5)
            base_b = Baselines(db_path, window)
            baselines.append(base_b)
            f0, d0, t0 = cpu_seconds(follower.pid), cpu_seconds(daemon_pid), time.monotonic()
            time.sleep(window)
            f1, d1, t1 = cpu_seconds(follower.pid), cpu_seconds(daemon_pid), time.monotonic()
            follower_pct = 100 * (f1 - f0) / (t1 - t0)
            daemon_busy = 100 * (d1 - d0) / (t1 - t0)
            sleep_b, loop_b, changes_b = base_b.finish()
            n_lines = len(lines)
            orch.cancel(tid, "benchmark over")
            follower.wait(10)
        finally:
            for b in baselines:
                b.kill()
            if follower is not None and follower.poll() is None:
                os.killpg(follower.pid, signal.SIGKILL)
                follower.wait()
            try:
                subprocess.run([CLI, "daemon", "stop", "--timeout", "20"], env=env, capture_output=True, timeout=40)
            except subprocess.TimeoutExpired:
                pass
            if daemon_pid and psutil.pid_exists(daemon_pid):
                with contextlib.suppress(psutil.Error):
                    if psutil.Process(daemon_pid).status() != psutil.STATUS_ZOMBIE:
                        os.kill(daemon_pid, signal.SIGKILL)
            with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(db_path)) as db:
                for pgid, started in db.execute("SELECT pgid, started_at FROM steps WHERE pgid IS NOT NULL"):
                    kill_orphan_group(pgid, started)
            orch.close()

    print(f"idle CPU over {window:g} s windows, % of one core (psutil user + system)")
    print(f"machine: {machine()}")
    print(f"A: daemon, no tasks                     {daemon_idle:6.2f}%")
    print(f"   baselines: sleep {sleep_a:5.2f}%; data_version loop (50 ms) {loop_a:5.2f}% "
          f"(saw {changes_a} version change(s))")
    print(f"B: task watch --plain, task idle        {follower_pct:6.2f}%   target < {TARGET_PCT:g}%: "
          f"{met(follower_pct < TARGET_PCT)}  ({n_lines} line(s) printed)")
    print(f"   daemon with that task running        {daemon_busy:6.2f}%")
    print(f"   baselines: sleep {sleep_b:5.2f}%; data_version loop (50 ms) {loop_b:5.2f}% "
          f"(saw {changes_b} version change(s))")
    floor = (loop_a + loop_b) / 2
    print(f"RESULT idle_cpu: follower {follower_pct:.2f}% of a core (target < {TARGET_PCT:g}%: "
          f"{met(follower_pct < TARGET_PCT)}), daemon idle {daemon_idle:.2f}%, daemon with 1 idle task "
          f"{daemon_busy:.2f}%; floor (data_version loop) {floor:.2f}%, sleep {max(sleep_a, sleep_b):.2f}%; "
          f"follower/floor {follower_pct / floor:.1f}x, idle daemon/floor {daemon_idle / floor:.1f}x")
    return 0 if follower_pct < TARGET_PCT else 1


if __name__ == "__main__":
    sys.exit(main())

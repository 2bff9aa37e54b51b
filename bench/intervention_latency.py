"""Live control latency: `task pause` and `task cancel` against a real daemon.

- PAUSE: one long task (a shell step `sleep 600`), paused and resumed 50 times with the
  real CLI. A thread reads /proc/PID/stat of the step's process every ~1 ms and stamps
  the first moment it is in state `T`. Measured per run: the pause command itself
  (spawn -> exit), command start -> `T` (end to end) and command return -> `T` (the
  headline: 0 when the process was already stopped when the command returned). The
  resume that follows each pause is timed too (-> state no longer `T`).
- CANCEL: 50 tasks whose step is `sleep 60 & sleep 60` (a shell with a child: the
  step's group has >= 2 processes), run 10 at a time by the daemon. Measured per
  cancel: the command, command start -> no process of the group left alive (zombies
  count as gone), command return -> that.

Each intervention row's `created_at`/`applied_at` splits the end-to-end time into
CLI start-up (spawn -> row committed), the engine (row -> applied) and the command's
own wait (applied -> exit).

Baselines, interleaved with the runs: `agent-agency-cli --version` and
`agent-agency-cli task status ID --json` (how much of a command is CLI start-up).
Targets: median <= 150 ms, p95 <= 300 ms.

    .venv/bin/python bench/intervention_latency.py [--runs 50]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
from _common import machine, met, temp_home

BIN = Path(sys.executable).parent
CLI = shutil.which("agent-agency-cli", path=str(BIN)) or "agent-agency-cli"
TARGET_MEDIAN_MS = 150.0
TARGET_P95_MS = 300.0
CONCURRENT = 10  # cancel tasks the daemon runs at once
CONFIG = """\
task_execution:
  max_concurrent_tasks: {concurrent}
daemon:
  stop_timeout: 2s
"""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[max(0, min(len(values) - 1, round(q * (len(values) - 1))))]


def proc_state(pid: int) -> str | None:
    """The state letter in /proc/PID/stat; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, IndexError):
        return None


def gone(pid: int) -> bool:
    return proc_state(pid) in (None, "Z", "X")


class Watch(threading.Thread):
    """Evaluates `cond` every ~1 ms; `hit` is the time.time() of the first True."""

    def __init__(self, cond: Callable[[], bool], timeout: float = 15.0):
        super().__init__(daemon=True)
        self.cond, self.timeout = cond, timeout
        self.hit: float | None = None
        self.start()

    def run(self) -> None:
        end = time.time() + self.timeout
        while time.time() < end:
            if self.cond():
                self.hit = time.time()
                return
            time.sleep(0.001)


def cli(env: dict[str, str], *args: str) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run the CLI; (spawn time, exit time, result), both time.time()."""
    t0 = time.time()
    res = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60)
    return t0, time.time(), res


def check(res: subprocess.CompletedProcess) -> None:
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(res.args[1:])} exited {res.returncode}: {res.stderr.strip()}")


def wait_for(cond: Callable[[], object], timeout: float, what: str) -> object:
    end = time.time() + timeout
    while time.time() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.002)
    raise RuntimeError(f"timed out waiting for {what}")


@contextlib.contextmanager
def running_daemon(home: Path, env: dict[str, str]) -> Iterator[int]:
    """`daemon start`; always `daemon stop` (then SIGKILL and orphan clean-up) at the end."""
    from agent_agency_cli.procgroup import kill_orphan_group

    check(cli(env, "daemon", "start")[2])
    pid = json.loads((home / "daemon.json").read_text())["pid"]
    try:
        yield pid
    finally:
        try:
            subprocess.run([CLI, "daemon", "stop", "--timeout", "20"], env=env,
                           capture_output=True, timeout=40)
        except subprocess.TimeoutExpired:
            pass
        if psutil.pid_exists(pid) and not gone(pid):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(sqlite3.Error), contextlib.closing(
                sqlite3.connect(home / "agency.db")) as db:
            for pgid, started in db.execute("SELECT pgid, started_at FROM steps WHERE pgid IS NOT NULL"):
                kill_orphan_group(pgid, started)


def with_children(pid: int) -> list[int] | None:
    """[pid, its descendants...] once it has at least one child, else None."""
    kids = [q.pid for q in psutil.Process(pid).children(recursive=True)]
    return [pid, *kids] if kids else None


def summary(name: str, values: list[float]) -> str:
    return f"{name:<34} median {statistics.median(values):7.1f} ms  p95 {pct(values, 0.95):7.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=50, help="pauses and cancels (default 50 each)")
    ap.add_argument("--budget", type=float, default=100.0,
                    help="seconds; on a loaded machine, stop taking samples after this long (default 100)")
    args = ap.parse_args()
    runs = args.runs
    began = time.time()

    from agent_agency_cli.orchestrator import TaskOrchestrator

    p: dict[str, list[float]] = {k: [] for k in (
        "cmd", "start_eff", "ret_eff", "cli", "row_eff", "engine", "wait", "resume_cmd", "resume_start_eff",
        "resume_ret_eff")}
    c: dict[str, list[float]] = {k: [] for k in ("cmd", "start_eff", "ret_eff", "cli", "row_eff", "engine",
                                                "wait")}
    version_ms: list[float] = []
    status_ms: list[float] = []
    p_early = c_early = leaks = 0

    with temp_home() as home:
        (home / "config.yaml").write_text(CONFIG.format(concurrent=CONCURRENT))
        env = {**os.environ, "AGENT_AGENCY_HOME": str(home)}
        env.pop("AGENT_AGENCY_CONFIG", None)
        orch = TaskOrchestrator(home=home)
        orch.list_tasks()  # creates the database
        db = sqlite3.connect(home / "agency.db", isolation_level=None)
        try:
            with running_daemon(home, env):

                def step_row(tid: str) -> tuple | None:
                    return db.execute("SELECT status, pid, pgid, attempt FROM steps WHERE task_id = ?",
                                      (tid,)).fetchone()

                def iv_times(tid: str, kind: str) -> tuple[float, float]:
                    row = db.execute("SELECT created_at, applied_at FROM interventions WHERE task_id = ? "
                                     "AND kind = ? ORDER BY id DESC LIMIT 1", (tid, kind)).fetchone()
                    return row[0], row[1]

                # -- PAUSE / RESUME ----------------------------------------------------
                tid = orch.submit_task({"plan": {"steps": [{"name": "long", "run": "sleep 600"}]},
                                        "description": "pause benchmark"}, start_daemon=False)
                row = wait_for(lambda: (r := step_row(tid)) and r[0] == "running" and r[1] and r, 20,
                               "the pause task's step to run")
                pid = row[1]
                wait_for(lambda: proc_state(pid) in ("S", "R"), 5, "the step's process")
                for i in range(runs):
                    if time.time() - began > 0.55 * args.budget:
                        break
                    if i % 5 == 0:
                        t0, t1, _ = cli(env, "--version")
                        version_ms.append(1000 * (t1 - t0))
                        t0, t1, res = cli(env, "task", "status", tid, "--json")
                        check(res)
                        status_ms.append(1000 * (t1 - t0))
                    time.sleep(0.02)
                    w = Watch(lambda: proc_state(pid) == "T")
                    t0, t1, res = cli(env, "task", "pause", tid)
                    check(res)
                    w.join()
                    if w.hit is None:
                        raise RuntimeError(f"run {i}: the step never reached state T")
                    created, applied = iv_times(tid, "pause")
                    p["cmd"].append(1000 * (t1 - t0))
                    p["start_eff"].append(1000 * (w.hit - t0))
                    p["ret_eff"].append(1000 * max(0.0, w.hit - t1))
                    p_early += w.hit <= t1
                    p["cli"].append(1000 * (created - t0))
                    p["row_eff"].append(1000 * (w.hit - created))
                    p["engine"].append(1000 * (applied - created))
                    p["wait"].append(1000 * (t1 - applied))
                    time.sleep(0.02)
                    w = Watch(lambda: proc_state(pid) != "T")
                    t0, t1, res = cli(env, "task", "resume", tid)
                    check(res)
                    w.join()
                    if w.hit is None:
                        raise RuntimeError(f"run {i}: the step never left state T")
                    p["resume_cmd"].append(1000 * (t1 - t0))
                    p["resume_start_eff"].append(1000 * (w.hit - t0))
                    p["resume_ret_eff"].append(1000 * max(0.0, w.hit - t1))
                check(cli(env, "task", "cancel", tid)[2])

                # -- CANCEL ------------------------------------------------------------
                plan = {"steps": [{"name": "sh", "run": "sleep 60 & sleep 60"}]}
                tids = [orch.submit_task({"plan": plan, "description": f"cancel benchmark {i}"},
                                         start_daemon=False) for i in range(runs)]
                for i, tid in enumerate(tids):
                    if time.time() - began > args.budget:
                        break
                    want = min(CONCURRENT, runs - i)
                    wait_for(lambda want=want: db.execute(
                        "SELECT count(*) FROM steps WHERE status = 'running' AND pid IS NOT NULL"
                    ).fetchone()[0] >= want, 30, f"{want} running cancel tasks")
                    row = wait_for(lambda tid=tid: (r := step_row(tid)) and r[0] == "running" and r, 30,
                                   f"cancel task {i}")
                    leader, pgid = row[1], row[2]
                    procs = wait_for(lambda leader=leader: with_children(leader), 5, "the step's child process")
                    time.sleep(0.02)
                    w = Watch(lambda procs=procs: all(gone(q) for q in procs))
                    t0, t1, res = cli(env, "task", "cancel", tid, "--reason", "benchmark")
                    check(res)
                    w.join()
                    if w.hit is None:
                        raise RuntimeError(f"cancel {i}: the step's processes outlived the cancel")
                    created, applied = iv_times(tid, "cancel")
                    c["cmd"].append(1000 * (t1 - t0))
                    c["start_eff"].append(1000 * (w.hit - t0))
                    c["ret_eff"].append(1000 * max(0.0, w.hit - t1))
                    c_early += w.hit <= t1
                    c["cli"].append(1000 * (created - t0))
                    c["row_eff"].append(1000 * (w.hit - created))
                    c["engine"].append(1000 * (applied - created))
                    c["wait"].append(1000 * (t1 - applied))
                    leaks += sum(1 for q in psutil.process_iter()
                                 if _pgid(q.pid) == pgid and not gone(q.pid))
        finally:
            db.close()
            orch.close()

    n_p, n_c = len(p["cmd"]), len(c["cmd"])
    print(f"live control latency: {n_p} pauses (+ resumes) of one `sleep 600` step; "
          f"{n_c} cancels of `sleep 60 & sleep 60` steps ({CONCURRENT} tasks running)")
    if n_p < runs or n_c < runs:
        print(f"(stopped early: the --budget of {args.budget:g} s ran out; the machine is loaded)")
    print(f"machine: {machine()}")
    print("baselines (interleaved with the pauses, every 5th run):")
    print(summary("  agent-agency-cli --version", version_ms))
    print(summary("  task status ID --json", status_ms))
    print("PAUSE")
    print(summary("  command (spawn -> exit)", p["cmd"]))
    print(summary("  command return -> state T", p["ret_eff"])
          + f"  (T already reached at return: {p_early}/{n_p})")
    print(summary("  command start -> state T", p["start_eff"]))
    print(summary("    spawn -> intervention row", p["cli"]))
    print(summary("    row -> state T (engine)", p["row_eff"]))
    print(summary("    row -> applied (engine)", p["engine"]))
    print(summary("    applied -> command exit", p["wait"]))
    print(summary("  resume command", p["resume_cmd"]))
    print(summary("  resume start -> not T", p["resume_start_eff"]))
    print(summary("  resume return -> not T", p["resume_ret_eff"]))
    print("CANCEL")
    print(summary("  command (spawn -> exit)", c["cmd"]))
    print(summary("  command return -> group gone", c["ret_eff"])
          + f"  (gone already at return: {c_early}/{n_c}; processes left after: {leaks})")
    print(summary("  command start -> group gone", c["start_eff"]))
    print(summary("    spawn -> intervention row", c["cli"]))
    print(summary("    row -> group gone (engine)", c["row_eff"]))
    print(summary("    row -> applied (engine)", c["engine"]))
    print(summary("    applied -> command exit", c["wait"]))

    def ok(v: list[float]) -> bool:
        return statistics.median(v) <= TARGET_MEDIAN_MS and pct(v, 0.95) <= TARGET_P95_MS

    def fig(v: list[float]) -> str:
        return f"{statistics.median(v):.0f}/{pct(v, 0.95):.0f} ms"

    base = statistics.median(status_ms)
    print(f"target median <= {TARGET_MEDIAN_MS:.0f} ms, p95 <= {TARGET_P95_MS:.0f} ms:")
    print(f"  pause return -> T {met(ok(p['ret_eff']))};  pause start -> T {met(ok(p['start_eff']))} "
          f"({statistics.median(p['start_eff']) / base:.2f}x `task status --json`)")
    print(f"  cancel return -> gone {met(ok(c['ret_eff']))};  cancel start -> gone "
          f"{met(ok(c['start_eff']))} ({statistics.median(c['start_eff']) / base:.2f}x `task status --json`)")
    print(f"RESULT intervention_latency: pause return->T {fig(p['ret_eff'])} (median/p95) "
          f"{met(ok(p['ret_eff']))}, start->T {fig(p['start_eff'])} {met(ok(p['start_eff']))}; "
          f"cancel return->gone {fig(c['ret_eff'])} {met(ok(c['ret_eff']))}, start->gone "
          f"{fig(c['start_eff'])} {met(ok(c['start_eff']))}; baseline status --json {base:.0f} ms, "
          f"--version {statistics.median(version_ms):.0f} ms")
    return 0 if ok(p["ret_eff"]) and ok(c["ret_eff"]) and not leaks else 1


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())

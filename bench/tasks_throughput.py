"""Tasks per second: N one-step tasks submitted through the SDK and drained by the
daemon, vs Huey's SQLite queue (a real `huey_consumer` process) draining N no-op
tasks in the same run.

Kinds: `python` (a no-op Python step: the same work as Huey's no-op task) and
`shell` (`true`). Runs are interleaved (Huey, ours, Huey, ours...) and the median
is reported, since the machine is shared.

Two figures per kind: "submit+drain" (the consumer runs while the tasks arrive; clock from
the first submit to the last done) and "drain only" (the queue is full when the
consumer starts; clock from the first task done to the last: no start-up in it), each
our tasks/s / Huey's tasks/s (target >= 1.0).

    .venv/bin/python bench/tasks_throughput.py [N] [REPEATS]
    (needs huey: pip install -r bench/requirements.txt)
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, met, temp_home

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
TARGET = 1.0
TIMEOUT = 300.0

HUEY_APP = '''\
from huey import SqliteHuey

huey = SqliteHuey(filename={db!r})


@huey.task()
def noop():
    return 1
'''


def _wait_for(check, what: str, poll: float = 0.02) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(poll)


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far, from /proc."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _drain_clock(count, n: int, what: str, pid: int) -> tuple[float, float]:
    """(seconds, CPU seconds of the consumer `pid`) from the first task done to the n-th,
    by polling `count()` (the drain rate, without the consumer's start-up): the window
    holds n - 1 tasks; both are scaled to n. The CPU figure does not depend on the load
    of the machine the way the wall clock does."""
    _wait_for(lambda: count() >= 1, what)
    t_first, cpu_first = time.perf_counter(), cpu_seconds(pid)
    _wait_for(lambda: count() >= n, what)
    scale = n / max(n - 1, 1)
    return (time.perf_counter() - t_first) * scale, (cpu_seconds(pid) - cpu_first) * scale


def huey_run(n: int) -> tuple[float, float, float]:
    """Huey (SQLite storage, one `huey_consumer` process, 1 worker thread), two ways:
    (seconds from first enqueue to n done with the consumer running, drain seconds of n
    tasks enqueued before the consumer starts, the consumer's CPU seconds in that drain)."""
    with tempfile.TemporaryDirectory(prefix="aac-bench-huey-") as tmp:
        app = Path(tmp) / "bench_huey_app.py"
        app.write_text(HUEY_APP.format(db=str(Path(tmp) / "huey.db")))
        sys.path.insert(0, tmp)

        def consumer() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "huey.bin.huey_consumer", "bench_huey_app.huey", "-w", "1",
                 "-k", "thread", "-n", "-d", "0.01", "-m", "0.05", "-q"],
                cwd=tmp, env={**os.environ, "PYTHONPATH": tmp}, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)

        def stop(proc: subprocess.Popen[bytes]) -> None:
            proc.terminate()
            proc.wait(10)

        try:
            import bench_huey_app  # type: ignore[import-not-found]

            huey = bench_huey_app.huey
            # Drain only: the queue is full when the consumer starts.
            for _ in range(n):
                bench_huey_app.noop()
            proc = consumer()
            try:
                drain, drain_cpu = _drain_clock(huey.storage.result_store_size, n, "huey to drain", proc.pid)
            finally:
                stop(proc)
            huey.storage.flush_results()
            proc = consumer()
            try:
                t0 = time.perf_counter()
                for _ in range(n):
                    bench_huey_app.noop()
                _wait_for(lambda: huey.storage.result_store_size() >= n, "huey to drain")
                return time.perf_counter() - t0, drain, drain_cpu
            finally:
                stop(proc)
        finally:
            sys.path.remove(tmp)
            sys.modules.pop("bench_huey_app", None)


def _done_count(db: Path) -> int:
    conn = sqlite3.connect(str(db))
    try:
        return conn.execute("SELECT COUNT(*) FROM tasks WHERE status IN "
                            "('completed', 'failed', 'cancelled')").fetchone()[0]
    finally:
        conn.close()


def ours_run(n: int, kind: str) -> tuple[float, float, float, float]:
    """(seconds from first submit to n done with the daemon running, seconds submitting,
    drain seconds of n tasks queued before the daemon starts, the daemon's CPU seconds in
    that drain), each in a fresh home."""
    from agent_agency_cli.orchestrator import TaskOrchestrator

    step = {"name": "s", "python": "benchsteps:noop"} if kind == "python" else {"name": "s", "run": "true"}
    request = {"plan": {"steps": [step]}, "description": "bench"}
    with temp_home() as home:
        db = home / "agency.db"
        orch = TaskOrchestrator(home=home)
        try:
            for _ in range(n):
                orch.submit_task(request, start_daemon=False)
            pid = orch.ensure_daemon()["pid"]
            drain, drain_cpu = _drain_clock(lambda: _done_count(db), n, "the daemon to drain", pid)
            t0 = time.perf_counter()
            for _ in range(n):
                orch.submit_task(request)
            submitted = time.perf_counter() - t0
            _wait_for(lambda: _done_count(db) >= 2 * n, "the daemon to drain")
            elapsed = time.perf_counter() - t0
            failed = orch.store.conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE status != 'completed'").fetchone()[0]
            if failed:
                sys.exit(f"{failed} benchmark task(s) did not complete")
            return elapsed, submitted, drain, drain_cpu
        finally:
            orch.stop_daemon()
            orch.close()


def main() -> None:
    try:
        import huey  # noqa: F401
    except ImportError:
        sys.exit("the baseline needs huey: pip install -r bench/requirements.txt")
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{N} one-step tasks per run, {REPEATS} interleaved runs, medians")
    huey_runs: list[tuple[float, float, float]] = []
    ours: dict[str, list[tuple[float, float, float, float]]] = {"python": [], "shell": []}
    loads = []
    for _ in range(REPEATS):
        huey_runs.append(huey_run(N))
        for kind in ours:
            ours[kind].append(ours_run(N, kind))
        loads.append(os.getloadavg()[0])
    h_total = statistics.median(r[0] for r in huey_runs)
    h_drain = statistics.median(r[1] for r in huey_runs)
    h_cpu = statistics.median(r[2] for r in huey_runs)
    print(f"huey (SQLite, 1 consumer): submit+drain {N / h_total:,.0f} tasks/s, drain only {N / h_drain:,.0f} "
          f"tasks/s, consumer CPU {h_cpu / N * 1e3:.2f} ms per task "
          f"(runs {', '.join(f'{N / r[0]:,.0f}/{N / r[1]:,.0f}' for r in huey_runs)})")
    for kind, runs in ours.items():
        total = statistics.median(r[0] for r in runs)
        submit = statistics.median(r[1] for r in runs)
        drain = statistics.median(r[2] for r in runs)
        cpu = statistics.median(r[3] for r in runs)
        print(f"ours ({kind} step): submit+drain {N / total:,.0f} tasks/s, drain only {N / drain:,.0f} tasks/s "
              f"(runs {', '.join(f'{N / r[0]:,.0f}/{N / r[2]:,.0f}' for r in runs)}); "
              f"submitting alone {N / submit:,.0f} tasks/s; daemon CPU {cpu / N * 1e3:.2f} ms per task "
              f"(its steps' processes not included)")
        for label, mine, theirs in (("submit+drain", total, h_total), ("drain only", drain, h_drain)):
            ratio = theirs / mine
            print(f"RESULT tasks_throughput[{kind}, {label}]: {N / mine:,.0f} vs huey {N / theirs:,.0f} tasks/s; "
                  f"ratio {ratio:.2f}x; target >= {TARGET}x: {met(ratio >= TARGET)}")
        print(f"  CPU per task in the drain, huey's consumer / our daemon: {h_cpu / cpu:.2f}x")
    print(f"load average after each round: {', '.join(f'{x:.1f}' for x in loads)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

"""Tasks per second: N one-step tasks submitted through the SDK and drained by the
daemon, vs Huey's SQLite queue (a real `huey_consumer` process) draining N no-op
tasks in the same run. Both clocks run from the first submit to the last task done.

Kinds: `python` (a no-op Python step: the same work as Huey's no-op task) and
`shell` (`true`). Runs are interleaved (Huey, ours, Huey, ours...) and the median
is reported, since the machine is shared.

Figure: our tasks/s / Huey's tasks/s (target >= 1.0).

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


def _wait_for(check, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.005)


def huey_run(n: int) -> float:
    """Seconds for Huey (SQLite storage, one consumer process, 1 worker thread) to drain n tasks."""
    with tempfile.TemporaryDirectory(prefix="aac-bench-huey-") as tmp:
        app = Path(tmp) / "bench_huey_app.py"
        app.write_text(HUEY_APP.format(db=str(Path(tmp) / "huey.db")))
        sys.path.insert(0, tmp)
        try:
            import bench_huey_app  # type: ignore[import-not-found]

            huey = bench_huey_app.huey
            consumer = subprocess.Popen(
                [sys.executable, "-m", "huey.bin.huey_consumer", "bench_huey_app.huey", "-w", "1",
                 "-k", "thread", "-n", "-d", "0.01", "-m", "0.05", "-q"],
                cwd=tmp, env={**os.environ, "PYTHONPATH": tmp}, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            try:
                probe = bench_huey_app.noop()  # the consumer is up once it ran one
                _wait_for(lambda: probe.get(preserve=False) is not None, "huey's consumer")
                t0 = time.perf_counter()
                for _ in range(n):
                    bench_huey_app.noop()
                _wait_for(lambda: huey.storage.result_store_size() >= n and huey.pending_count() == 0,
                          "huey to drain")
                return time.perf_counter() - t0
            finally:
                consumer.terminate()
                consumer.wait(10)
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


def ours_run(n: int, kind: str) -> tuple[float, float]:
    """(seconds from first submit to last task done, seconds submitting) in a fresh home."""
    from agent_agency_cli.orchestrator import TaskOrchestrator

    step = {"name": "s", "python": "benchsteps:noop"} if kind == "python" else {"name": "s", "run": "true"}
    request = {"plan": {"steps": [step]}, "description": "bench"}
    with temp_home() as home:
        orch = TaskOrchestrator(home=home)
        try:
            orch.ensure_daemon()
            orch.submit_task(request)  # warm the daemon (imports) before the clock
            _wait_for(lambda: _done_count(home / "agency.db") >= 1, "the warm-up task")
            t0 = time.perf_counter()
            for _ in range(n):
                orch.submit_task(request)
            submitted = time.perf_counter() - t0
            _wait_for(lambda: _done_count(home / "agency.db") >= n + 1, "the daemon to drain")
            elapsed = time.perf_counter() - t0
            failed = orch.store.conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE status != 'completed'").fetchone()[0]
            if failed:
                sys.exit(f"{failed} benchmark task(s) did not complete")
            return elapsed, submitted
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
    results = {}
    huey_runs: list[float] = []
    ours: dict[str, list[tuple[float, float]]] = {"python": [], "shell": []}
    for _ in range(REPEATS):
        huey_runs.append(huey_run(N))
        for kind in ours:
            ours[kind].append(ours_run(N, kind))
    base = statistics.median(huey_runs)
    print(f"huey (SQLite, 1 consumer): {N / base:,.0f} tasks/s (runs "
          f"{', '.join(f'{N / r:,.0f}' for r in huey_runs)})")
    for kind, runs in ours.items():
        total = statistics.median(r[0] for r in runs)
        submit = statistics.median(r[1] for r in runs)
        results[kind] = ratio = base / total
        print(f"ours ({kind} step): {N / total:,.0f} tasks/s (runs "
              f"{', '.join(f'{N / r[0]:,.0f}' for r in runs)}); submitting alone {N / submit:,.0f} tasks/s")
        print(f"RESULT tasks_throughput[{kind}]: {N / total:,.0f} vs huey {N / base:,.0f} tasks/s; "
              f"ratio {ratio:.2f}x; target >= {TARGET}x: {met(ratio >= TARGET)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

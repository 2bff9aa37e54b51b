"""100 independent `true` shell steps at concurrency 2 and at concurrency 8, vs the
same 100 processes spawned with asyncio (create_subprocess_exec, stdout/stderr PIPE
read to EOF, wait) behind a semaphore of the same size.

Figure: engine seconds / asyncio seconds (target <= 1.5x), best and median of
interleaved runs (the machine is shared: the median is the steadier figure). Also the
CPU seconds of this process for each (both run in it), whose ratio does not depend on
how many other processes want the CPU: on a loaded machine a busy loop waits for its
slices while a mostly idle one (the baseline) is scheduled at once, so wall-time ratios
grow with the load average.

    .venv/bin/python bench/shell_steps.py [CONCURRENCY ...]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import machine, met, run_plan, temp_home

N = 100
CONCURRENCIES = [int(a) for a in sys.argv[1:]] or [2, 8]
REPEATS = 5
TARGET = 1.5


async def _one(sem: asyncio.Semaphore) -> None:
    async with sem:
        proc = await asyncio.create_subprocess_exec(
            "true", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stderr is not None
        await asyncio.gather(proc.stdout.read(), proc.stderr.read())
        rc = await proc.wait()
        assert rc == 0


async def _spawn_all(concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    t0 = time.perf_counter()
    await asyncio.gather(*(_one(sem) for _ in range(N)))
    return time.perf_counter() - t0


def baseline(concurrency: int) -> float:
    return asyncio.run(_spawn_all(concurrency))


def timed_baseline(concurrency: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one baseline run."""
    cpu = time.process_time()
    wall = baseline(concurrency)
    return wall, time.process_time() - cpu


def timed_engine(home: Path, steps: list[dict[str, Any]], concurrency: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of `run_foreground` of one task (the
    submit, which validates and scans the plan, is not in either figure)."""
    from agent_agency_cli.orchestrator import TaskOrchestrator

    orch = TaskOrchestrator(home=home)
    try:
        tid = orch.submit_task({"plan": {"steps": steps}, "description": "bench", "concurrency": concurrency},
                               start_daemon=False)
        cpu, t0 = time.process_time(), time.perf_counter()
        orch.run_foreground(tid)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
        if orch.get_status(tid)["progress"]["done"] != len(steps):
            sys.exit("benchmark task did not complete every step")
        return wall, cpu
    finally:
        orch.close()


def main() -> None:
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    steps = [{"name": f"s{i}", "run": "true"} for i in range(N)]
    with temp_home() as home:
        run_plan(home, steps[:5], 2)  # warm-up: imports, schema
        for concurrency in CONCURRENCIES:
            base_runs: list[tuple[float, float]] = []
            eng_runs: list[tuple[float, float]] = []
            baseline(concurrency)
            for _ in range(REPEATS):  # interleave so machine noise hits both alike
                base_runs.append(timed_baseline(concurrency))
                eng_runs.append(timed_engine(home, steps, concurrency))
            base, eng = min(r[0] for r in base_runs), min(r[0] for r in eng_runs)
            ratio = eng / base
            median = statistics.median(r[0] for r in eng_runs) / statistics.median(r[0] for r in base_runs)
            cpu = statistics.median(r[1] for r in eng_runs) / statistics.median(r[1] for r in base_runs)
            print(f"[c={concurrency}] baseline asyncio: {N} processes in {base:.3f} s (best of {REPEATS}; runs "
                  f"{', '.join(f'{r[0]:.3f}' for r in base_runs)}) = {N / base:,.0f} proc/s; CPU per process "
                  f"{statistics.median(r[1] for r in base_runs) / N * 1e3:.2f} ms")
            print(f"[c={concurrency}] engine:           {N} steps in {eng:.3f} s (best of {REPEATS}; runs "
                  f"{', '.join(f'{r[0]:.3f}' for r in eng_runs)}) = {N / eng:,.0f} steps/s; CPU per step "
                  f"{statistics.median(r[1] for r in eng_runs) / N * 1e3:.2f} ms")
            print(f"RESULT shell_steps[c={concurrency}]: engine {eng:.3f} s vs asyncio {base:.3f} s; "
                  f"ratio {ratio:.2f}x best, {median:.2f}x median (CPU {cpu:.2f}x); "
                  f"target <= {TARGET}x: {met(median <= TARGET)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

"""100 independent `true` shell steps at concurrency 2 and at concurrency 8, vs the
same 100 processes spawned with asyncio (create_subprocess_exec, stdout/stderr PIPE
read to EOF, wait) behind a semaphore of the same size.

Figure: engine seconds / asyncio seconds (target <= 1.5x), best and median of
interleaved runs (the machine is shared: the median is the steadier figure).

    .venv/bin/python bench/shell_steps.py [CONCURRENCY ...]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

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


def main() -> None:
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    steps = [{"name": f"s{i}", "run": "true"} for i in range(N)]
    with temp_home() as home:
        run_plan(home, steps[:5], 2)  # warm-up: imports, schema
        for concurrency in CONCURRENCIES:
            base_runs: list[float] = []
            eng_runs: list[float] = []
            baseline(concurrency)
            for _ in range(REPEATS):  # interleave so machine noise hits both alike
                base_runs.append(baseline(concurrency))
                eng_runs.append(run_plan(home, steps, concurrency)[0])
            base, eng = min(base_runs), min(eng_runs)
            ratio = eng / base
            median = statistics.median(eng_runs) / statistics.median(base_runs)
            print(f"[c={concurrency}] baseline asyncio: {N} processes in {base:.3f} s (best of {REPEATS}; runs "
                  f"{', '.join(f'{r:.3f}' for r in base_runs)}) = {N / base:,.0f} proc/s")
            print(f"[c={concurrency}] engine:           {N} steps in {eng:.3f} s (best of {REPEATS}; runs "
                  f"{', '.join(f'{r:.3f}' for r in eng_runs)}) = {N / eng:,.0f} steps/s")
            print(f"RESULT shell_steps[c={concurrency}]: engine {eng:.3f} s vs asyncio {base:.3f} s; "
                  f"ratio {ratio:.2f}x best, {median:.2f}x median; target <= {TARGET}x: {met(median <= TARGET)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

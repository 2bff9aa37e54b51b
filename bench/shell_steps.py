"""100 independent `true` shell steps at concurrency 2, vs the same 100 processes
spawned with asyncio (create_subprocess_exec, stdout/stderr PIPE read to EOF, wait)
behind a semaphore of 2.

Figure: engine seconds / asyncio seconds (target <= 1.5x).

    .venv/bin/python bench/shell_steps.py
"""

from __future__ import annotations

import asyncio
import time

from _common import machine, met, run_plan, temp_home

N = 100
CONCURRENCY = 2
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


async def _spawn_all() -> float:
    sem = asyncio.Semaphore(CONCURRENCY)
    t0 = time.perf_counter()
    await asyncio.gather(*(_one(sem) for _ in range(N)))
    return time.perf_counter() - t0


def baseline() -> float:
    return asyncio.run(_spawn_all())


def main() -> None:
    print(f"machine: {machine()}")
    steps = [{"name": f"s{i}", "run": "true"} for i in range(N)]
    base_runs: list[float] = []
    eng_runs: list[float] = []
    with temp_home() as home:
        run_plan(home, steps[:5], CONCURRENCY)  # warm-up: imports, schema
        baseline()
        for _ in range(REPEATS):  # interleave so machine noise hits both alike
            base_runs.append(baseline())
            eng_runs.append(run_plan(home, steps, CONCURRENCY)[0])
    base, eng = min(base_runs), min(eng_runs)
    ratio = eng / base
    print(f"baseline asyncio: {N} processes in {base:.3f} s (best of {REPEATS}; runs "
          f"{', '.join(f'{r:.3f}' for r in base_runs)}) = {N / base:,.0f} proc/s")
    print(f"engine:           {N} steps in {eng:.3f} s (best of {REPEATS}; runs "
          f"{', '.join(f'{r:.3f}' for r in eng_runs)}) = {N / eng:,.0f} steps/s")
    print(f"RESULT shell_steps: engine {eng:.3f} s vs asyncio {base:.3f} s; ratio {ratio:.2f}x; "
          f"target <= {TARGET}x: {met(ratio <= TARGET)}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

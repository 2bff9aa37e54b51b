"""1,000 independent no-op Python steps in one durable task, run with run_foreground.

Figure: steps/s (target >= 3,000). Baseline: a bare loop making the same SQLite
commits the engine makes (2 per step), measured in this run. Python steps run in
worker processes by default; `--inline` measures `isolation: inline` (a thread of
the engine) in the same run, for the cost of the isolation. Each line also gives the
engine process's CPU time and voluntary context switches per step (steadier than the
rate on a loaded machine).

    .venv/bin/python bench/steps_throughput.py [--inline]
"""

from __future__ import annotations

import resource
import sys
import time

from _common import bare_commit_loop, best_of, machine, met, run_plan, temp_home

N = 1000
CONCURRENCIES = (8, 32)
REPEATS = 3
TARGET = 3000.0


def main() -> None:
    print(f"machine: {machine()}")
    base_s = best_of(REPEATS, bare_commit_loop, N)
    base_rate = N / base_s
    print(f"baseline: bare loop, {2 * N} commits in {base_s * 1000:.1f} ms = "
          f"{2 * N / base_s:,.0f} commits/s = {base_rate:,.0f} steps/s")
    modes = ("process", "inline") if "--inline" in sys.argv else ("process",)
    for mode in modes:
        print(f"isolation: {mode}")
        measure(mode, base_s)


def measure(mode: str, base_s: float) -> None:
    base_rate = N / base_s
    extra = {"isolation": "inline"} if mode == "inline" else {}
    steps = [{"name": f"s{i}", "python": "benchsteps:noop", **extra} for i in range(N)]
    results: dict[int, float] = {}
    with temp_home() as home:
        run_plan(home, steps[:40], max(CONCURRENCIES))  # warm-up: imports, schema, thread pool, workers
        for conc in CONCURRENCIES:
            runs, cpus, waits = [], [], []
            for _ in range(REPEATS):
                before, cpu0 = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
                elapsed, _status = run_plan(home, steps, conc)
                after = resource.getrusage(resource.RUSAGE_SELF)
                runs.append(elapsed)
                cpus.append((time.process_time() - cpu0) / N * 1e6)
                waits.append((after.ru_nvcsw - before.ru_nvcsw) / N)
            best = min(runs)
            results[conc] = N / best
            print(f"engine concurrency={conc:>3}: {N} steps in {best:.3f} s (best of "
                  f"{REPEATS}; runs {', '.join(f'{r:.3f}' for r in runs)}) = "
                  f"{N / best:,.0f} steps/s; ratio engine/baseline = {N / best / base_rate:.3f} "
                  f"(engine takes {best / base_s:.1f}x the bare commits' time); engine process "
                  f"{min(cpus):.0f} us CPU and {min(waits):.2f} voluntary context switches per step")
    best_conc = max(results, key=results.__getitem__)
    rate = results[best_conc]
    print(f"RESULT steps_throughput ({mode}): {rate:,.0f} steps/s (concurrency {best_conc}); "
          f"baseline {base_rate:,.0f} steps/s ({2 * base_rate:,.0f} commits/s); "
          f"ratio {rate / base_rate:.3f}; target >= {TARGET:,.0f} steps/s: {met(rate >= TARGET)}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

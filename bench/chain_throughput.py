"""A chain of 500 no-op Python steps (each needs the previous), run with run_foreground.

Figure: steps/s (target >= 1,500). Baseline: a bare loop making the same SQLite
commits the engine makes (2 per step), measured in this run.

    .venv/bin/python bench/chain_throughput.py
"""

from __future__ import annotations

import time

from _common import bare_commit_loop, best_of, machine, met, run_plan, temp_home

N = 500
REPEATS = 3
TARGET = 1500.0


def main() -> None:
    print(f"machine: {machine()}")
    base_s = best_of(REPEATS, bare_commit_loop, N)
    base_rate = N / base_s
    print(f"baseline: bare loop, {2 * N} commits in {base_s * 1000:.1f} ms = "
          f"{2 * N / base_s:,.0f} commits/s = {base_rate:,.0f} steps/s")
    steps = [{"name": "s0", "python": "benchsteps:noop"}]
    steps += [{"name": f"s{i}", "python": "benchsteps:noop", "needs": [f"s{i - 1}"]}
              for i in range(1, N)]
    with temp_home() as home:
        run_plan(home, steps[:20], 4)  # warm-up: imports, schema, thread pool
        runs = [run_plan(home, steps, 4)[0] for _ in range(REPEATS)]
    best = min(runs)
    rate = N / best
    print(f"engine chain: {N} steps in {best:.3f} s (best of {REPEATS}; runs "
          f"{', '.join(f'{r:.3f}' for r in runs)}) = {rate:,.0f} steps/s "
          f"(engine takes {best / base_s:.1f}x the bare commits' time)")
    print(f"RESULT chain_throughput: {rate:,.0f} steps/s; baseline {base_rate:,.0f} steps/s "
          f"({2 * base_rate:,.0f} commits/s); ratio {rate / base_rate:.3f}; "
          f"target >= {TARGET:,.0f} steps/s: {met(rate >= TARGET)}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

"""CPU cost of sampling running steps: 20 real step process trees (sh + 2 sleeping children
each, 60 processes) sampled with TreeSampler (+ SeriesBuffer.add) from one thread, every 1 s
and every 0.25 s for about 10 s each.

Figure: the sampler's own CPU time (time.process_time and getrusage(RUSAGE_SELF) deltas) as
% of one core: CPU per tick / interval (target < 3% at the 1 s interval). Baseline, same run: a bare loop calling
psutil.Process(pid).cpu_times() for the same 60 pids per tick; ratio = sampler / baseline per
tick. Also shown: one tick with psutil's children(recursive=True) instead of the /proc walk.

    .venv/bin/python bench/metrics_overhead.py
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable

import psutil
from _common import machine, met

from agent_agency_cli.engine import metrics
from agent_agency_cli.engine.metrics import SeriesBuffer, TreeSampler

N_STEPS = 20
DURATION = 10.0
TARGET = 3.0  # % of one core at the 1 s interval


def cpu_now() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return time.process_time(), ru.ru_utime + ru.ru_stime


def run_for(interval: float, duration: float, tick: Callable[[], None]) -> tuple[int, float, float, float]:
    """Call tick() every `interval` s for `duration` s; (ticks, wall, process_time cpu, rusage cpu)."""
    p0, r0 = cpu_now()
    t0 = time.monotonic()
    ticks = 0
    next_at = t0
    while True:
        tick()
        ticks += 1
        next_at += interval
        if next_at - t0 >= duration:
            break
        time.sleep(max(0.0, next_at - time.monotonic()))
    wall = time.monotonic() - t0
    p1, r1 = cpu_now()
    return ticks, wall, p1 - p0, r1 - r0


def main() -> None:
    print(f"machine: {machine()}; {len(psutil.pids())} processes on the machine; "
          f"/proc children walk: {metrics._PROC_CHILDREN}")
    procs = [subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"], start_new_session=True)
             for _ in range(N_STEPS)]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(len(psutil.Process(p.pid).children()) < 2 for p in procs):
            time.sleep(0.02)
        pids = [p.pid for p in procs]
        all_pids = [q.pid for p in procs for q in [psutil.Process(p.pid), *psutil.Process(p.pid).children()]]
        print(f"{N_STEPS} step trees, {len(all_pids)} processes")

        samplers = [TreeSampler(pid) for pid in pids]
        buffers = [SeriesBuffer(600) for _ in pids]

        def sample_all() -> None:
            for s, b in zip(samplers, buffers, strict=True):
                got = s.sample()
                assert got is not None and got.procs == 3, got
                b.add(got)

        def bare_loop() -> None:
            for pid in all_pids:
                psutil.Process(pid).cpu_times()

        sample_all()  # warm-up
        results = {}
        for interval in (1.0, 0.25):
            ticks, wall, cpu_pt, cpu_ru = run_for(interval, DURATION, sample_all)
            results[interval] = (ticks, wall, cpu_pt, cpu_ru)
            print(f"sampler every {interval:g} s: {ticks} ticks over {wall:.2f} s, cpu {cpu_pt * 1000:.1f} ms "
                  f"(rusage {cpu_ru * 1000:.1f} ms) = {cpu_pt / (ticks * interval) * 100:.2f}% of one core "
                  f"({cpu_pt / ticks * 1000:.2f} ms per tick, {cpu_pt / ticks / N_STEPS * 1e6:.0f} us per step)")

        n_base = 200
        b0, _ = cpu_now()
        for _ in range(n_base):
            bare_loop()
        base_tick = (cpu_now()[0] - b0) / n_base
        print(f"baseline bare loop: Process(pid).cpu_times() x {len(all_pids)} pids = {base_tick * 1000:.2f} ms "
              f"per tick = {base_tick * 100:.2f}% of one core at 1 s, {base_tick / 0.25 * 100:.2f}% at 0.25 s")

        # The fallback path (psutil children(recursive=True), used where /proc has no children files).
        saved = metrics._PROC_CHILDREN
        metrics._PROC_CHILDREN = False
        try:
            f0, _ = cpu_now()
            for _ in range(20):
                sample_all()
            fallback_tick = (cpu_now()[0] - f0) / 20
        finally:
            metrics._PROC_CHILDREN = saved
        print(f"fallback (psutil children(recursive=True)) tree walk: {fallback_tick * 1000:.2f} ms per tick "
              f"= {fallback_tick * 100:.2f}% of one core at 1 s")

        ticks, _, cpu_pt, _ = results[1.0]
        pct = cpu_pt / (ticks * 1.0) * 100
        ratio = (cpu_pt / ticks) / base_tick
        ticks4, _, cpu4, _ = results[0.25]
        print(f"RESULT metrics_overhead: sampler {pct:.2f}% of one core at 1 s "
              f"({cpu4 / (ticks4 * 0.25) * 100:.2f}% at 0.25 s) for {N_STEPS} steps; "
              f"ratio to bare cpu_times loop {ratio:.2f}x; target < {TARGET}% at 1 s: {met(pct < TARGET)}")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

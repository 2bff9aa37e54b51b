"""Plan validation + DAG analysis (levels, critical path) for 10,000 and 100,000 steps.

Times `parse_plan(data)` on plans built as dicts (a mix of chains and fan-out/fan-in
blocks, with estimates), best of 5 (10k) / 3 (100k). Figure: ratio 100k/10k (target <= 12, i.e.
linear). Also times `load_plan` of the 10k plan from a YAML file.

    .venv/bin/python bench/plan_validation.py
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _common import machine, met

from agent_agency_cli.planning.plan_file import load_plan, parse_plan

REPEATS = 3
TARGET = 12.0
BLOCK = 10  # steps per block
BLOCKS_PER_COMPONENT = 50  # blocks chained together; components are independent


def build_plan(n: int) -> dict[str, Any]:
    """n steps: independent components, each a chain of blocks of 10 steps.

    Even blocks are chains (each step needs the previous); odd blocks are a
    fan-out/fan-in (a root, 8 parallel steps needing it, a join needing all 8).
    A block's first step needs the previous block's last step.
    """
    steps: list[dict[str, Any]] = []
    prev_last: str | None = None
    for b in range(n // BLOCK):
        if b % BLOCKS_PER_COMPONENT == 0:
            prev_last = None
        base = f"b{b}"
        first_needs = [prev_last] if prev_last else []
        if b % 2 == 0:
            for j in range(BLOCK):
                name = f"{base}-c{j}"
                needs = first_needs if j == 0 else [f"{base}-c{j - 1}"]
                steps.append({"name": name, "run": f"echo {name}", "needs": needs,
                              "estimate": 1.5})
            prev_last = f"{base}-c{BLOCK - 1}"
        else:
            root = f"{base}-root"
            steps.append({"name": root, "run": "true", "needs": first_needs, "estimate": "2s"})
            fan = [f"{base}-f{j}" for j in range(BLOCK - 2)]
            for j, name in enumerate(fan):
                steps.append({"name": name, "python": "benchsteps:noop", "needs": [root],
                              "estimate": 0.5 + j, "timeout": "5m", "retries": 1})
            join = f"{base}-join"
            steps.append({"name": join, "run": ["sh", "-c", "true"], "needs": fan,
                          "estimate": "1m"})
            prev_last = join
    return {"name": f"bench-{n}", "description": "benchmark plan", "concurrency": 8,
            "steps": steps}


def time_parse(data: dict[str, Any], repeats: int = REPEATS) -> tuple[float, Any]:
    runs = []
    plan = None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        plan = parse_plan(data)
        runs.append(time.perf_counter() - t0)
    return min(runs), plan


def main() -> None:
    print(f"machine: {machine()}")
    # Each plan is built just before it is timed and dropped after, so neither run
    # pays for the other's objects in the garbage collector's full collections.
    small = build_plan(10_000)
    t10, p10 = time_parse(small, 5)
    print(f"parse_plan 10k:  {t10 * 1000:8.1f} ms  ({10_000 / t10:,.0f} steps/s; "
          f"{len(p10.execution.parallel_groups)} levels, critical path "
          f"{len(p10.execution.critical_path)} steps, {p10.execution.estimated_duration:g} s)")
    del p10
    big = build_plan(100_000)
    t100, p100 = time_parse(big)
    print(f"parse_plan 100k: {t100 * 1000:8.1f} ms  ({100_000 / t100:,.0f} steps/s; "
          f"{len(p100.execution.parallel_groups)} levels)")
    del p100, big
    with tempfile.TemporaryDirectory(prefix="aac-bench-") as tmp:
        path = Path(tmp) / "plan10k.yaml"
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        path.write_text(yaml.dump(small, Dumper=dumper, sort_keys=False))
        (Path(tmp) / "benchsteps.py").write_text("def noop(ctx):\n    return None\n")
        runs = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            load_plan(path)
            runs.append(time.perf_counter() - t0)
        tl = min(runs)
        t0 = time.perf_counter()
        yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        ty = time.perf_counter() - t0
    print(f"load_plan 10k YAML: {tl * 1000:.1f} ms (of which YAML parse alone ~{ty * 1000:.1f} "
          f"ms, C loader: {hasattr(yaml, 'CSafeLoader')})")
    ratio = t100 / t10
    print(f"RESULT plan_validation: 10k {t10 * 1000:.1f} ms, 100k {t100 * 1000:.1f} ms; "
          f"ratio 100k/10k {ratio:.2f}; target <= {TARGET:g}: {met(ratio <= TARGET)}; "
          f"load_plan(10k YAML) {tl * 1000:.1f} ms")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

"""The ray backend against the local one, on a Ray cluster started on this machine.

1. Per-step overhead: 200 independent no-op shell steps (`true`), concurrency 4, on each
   backend; seconds per step and the difference (what going through Ray adds to a step).
2. Throughput: N independent `sleep 0.1` shell steps at the same concurrency (16) on each
   backend; steps/s and the ratio ray/local.
3. Growth with the number of Ray workers: 48 `sleep 0.1` steps that each reserve one CPU
   (`resources: {cpu: 1}`), so at most as many run at once as the cluster has CPUs; the
   cluster grows from one node (2 CPUs) by nodes of 1 CPU each.

Baseline: the local backend, measured in the same run. Steps run with run_foreground
(the engine in this process, connected to the cluster through `execution.ray_address`).

    .venv/bin/python bench/ray_backend.py [N]     # N sleep steps for part 2 (default 1000)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _common import machine, run_plan, temp_home

OVERHEAD_STEPS = 200
SLEEP_STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
GROWTH_STEPS = 48
MAX_NODES = 3


def configure(home: Path, backend: str, address: str | None) -> None:
    text = f"execution:\n  backend: {backend}\n"
    if address:
        text += f"  ray_address: {address}\n"
    text += "recovery:\n  breakers: {enabled: false}\n"
    (home / "config.yaml").write_text(text)


def timed(home: Path, backend: str, address: str, steps: list[dict], concurrency: int) -> float:
    configure(home, backend, address)
    return run_plan(home, steps, concurrency)[0]


def main() -> None:
    print(f"machine: {machine()}")
    import ray
    from ray.cluster_utils import Cluster

    t0 = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "include_dashboard": False, "object_store_memory": 100 * 1024 * 1024})
    print(f"ray cluster up in {time.perf_counter() - t0:.1f} s at {cluster.address}")
    try:
        with temp_home() as home:
            noop = [{"name": f"n{i}", "run": "true"} for i in range(OVERHEAD_STEPS)]
            for backend in ("local", "ray"):  # warm-up: imports, schema, the node agent
                timed(home, backend, cluster.address, noop[:10], 4)
            local = timed(home, "local", cluster.address, noop, 4)
            remote = timed(home, "ray", cluster.address, noop, 4)
            lp, rp = local / OVERHEAD_STEPS, remote / OVERHEAD_STEPS
            print(f"RESULT ray_step_overhead: {OVERHEAD_STEPS} no-op steps, concurrency 4: local "
                  f"{lp * 1000:.1f} ms/step, ray {rp * 1000:.1f} ms/step; ray adds "
                  f"{(rp - lp) * 1000:.1f} ms/step; ratio {rp / lp:.2f}")

            sleeps = [{"name": f"s{i}", "run": "sleep 0.1"} for i in range(SLEEP_STEPS)]
            local = timed(home, "local", cluster.address, sleeps, 16)
            remote = timed(home, "ray", cluster.address, sleeps, 16)
            ideal = SLEEP_STEPS * 0.1 / 16
            print(f"RESULT ray_throughput: {SLEEP_STEPS} `sleep 0.1` steps, concurrency 16: local "
                  f"{SLEEP_STEPS / local:.1f} steps/s ({local:.2f} s), ray {SLEEP_STEPS / remote:.1f} "
                  f"steps/s ({remote:.2f} s); ideal {ideal:.2f} s; ratio ray/local "
                  f"{(SLEEP_STEPS / remote) / (SLEEP_STEPS / local):.2f}")

            held = [{"name": f"c{i}", "run": "sleep 0.1", "resources": {"cpu": 1}}
                    for i in range(GROWTH_STEPS)]
            figures = []
            for nodes in range(1, MAX_NODES + 1):
                if nodes > 1:
                    cluster.add_node(num_cpus=1, object_store_memory=100 * 1024 * 1024)
                    cluster.wait_for_nodes()
                cpus = 2 + (nodes - 1)
                elapsed = timed(home, "ray", cluster.address, held, 64)
                figures.append((nodes, cpus, elapsed))
                print(f"  {nodes} node(s), {cpus} CPUs: {GROWTH_STEPS} one-CPU steps in {elapsed:.2f} s = "
                      f"{GROWTH_STEPS / elapsed:.1f} steps/s (ideal {GROWTH_STEPS * 0.1 / cpus:.2f} s)")
            base = figures[0][2]
            print("RESULT ray_workers_growth: " + ", ".join(
                f"{n} node(s)/{c} CPUs {GROWTH_STEPS / e:.1f} steps/s (x{base / e:.2f})" for n, c, e in figures))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.1f} s)")

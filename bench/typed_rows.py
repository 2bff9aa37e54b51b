"""The cost of typed rows (rows.py) on the engine's per-step path, in CPU time.

Figure: CPU microseconds per step for what the typed rows changed: loading a task's steps
(`Store.step_rows`: StepRow with its StepSpec, vs the former `get_steps` + `json.loads`) and
unsealing a spec for one attempt (a StepSpec through the vault, vs a plain dict). Baseline: the
former dict path, measured on the same rows in this run. CPU time (not wall) so a loaded
machine moves both sides alike; the share is of the 667 us per step that 1,500 steps/s allows.

    .venv/bin/python bench/typed_rows.py [STEPS]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from _common import machine, temp_home

BUDGET_US = 1e6 / 1500  # per step at the engine's 1,500 no-op steps/s floor
REPEATS = 5


def cpu_best(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(f"machine: {machine()}")
    from agent_agency_cli.models import StepStatus
    from agent_agency_cli.orchestrator import TaskOrchestrator
    from agent_agency_cli.rows import StepSpec

    steps = [{"name": f"s{i}", "run": f"echo {i}", "env": {"N": str(i)}, "outputs": [f"o{i}"],
              "retries": {"attempts": 1}, **({"needs": [f"s{i - 1}"]} if i else {})} for i in range(n)]
    with temp_home() as home, TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": {"steps": steps}, "description": "typed rows bench"}, start_daemon=False)
        store = orch.store
        vault = store.vault

        def load_dicts() -> list[tuple]:  # what TaskRunner._load_steps read before the typed rows
            return [(r["name"], StepStatus(r["status"]), r["kind"], json.loads(r["spec"]), json.loads(r["needs"]),
                     r["timeout"], bool(r["idempotent"]), r["attempt"], r["max_attempts"], bool(r["overridden"]),
                     r["signature"]) for r in store.get_steps(tid)]

        def load_rows() -> list[tuple]:
            return [(r.name, r.status, r.kind, r.spec, r.needs, r.timeout, r.idempotent, r.attempt, r.max_attempts,
                     r.overridden, r.signature) for r in store.step_rows(tid)]

        dicts = [json.loads(r["spec"]) for r in store.get_steps(tid)]
        specs = [r.spec for r in store.step_rows(tid)]
        base_load, typed_load = cpu_best(load_dicts), cpu_best(load_rows)
        base_unseal = cpu_best(lambda: [vault.unseal(tid, d) for d in dicts])
        typed_unseal = cpu_best(lambda: [vault.unseal(tid, s) for s in specs])
        assert all(isinstance(s, StepSpec) for s in specs)

    def us(seconds: float) -> float:
        return seconds / n * 1e6

    extra = us(typed_load - base_load) + us(typed_unseal - base_unseal)
    print(f"load a task's steps: dicts {us(base_load):.1f} us/step, typed rows {us(typed_load):.1f} us/step; "
          f"ratio {typed_load / base_load:.2f}")
    print(f"unseal one attempt's spec: dict {us(base_unseal):.1f} us, StepSpec {us(typed_unseal):.1f} us; "
          f"ratio {typed_unseal / base_unseal:.2f}")
    print(f"RESULT typed_rows: +{extra:.1f} us CPU per step (load once + one attempt) over the dict path, "
          f"{extra / BUDGET_US:.1%} of the {BUDGET_US:.0f} us a step may take at 1,500 steps/s ({n:,} steps)")


if __name__ == "__main__":
    main()

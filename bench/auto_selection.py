"""`model: auto` learning from runs: what ranking by learnt records adds to `task create`'s intake.

A data home with RECORDS learning records (a tenth of them model steps over 4 models
and 5 types, the rest shell steps), a plan of 20 `model: auto` steps over those types.
Times `Intake.prepare` (validation, scan, council, estimates, selection; nothing
stored) with learning on, against the same with `learning_min_runs: null` (config
order only) in the same run; median of REPEATS each, interleaved. Figure: the ratio, and
the milliseconds learning adds (target: <= 10 ms at 50,000 records, 5,000 of them model steps).

    .venv/bin/python bench/auto_selection.py
"""

from __future__ import annotations

import random
import statistics
import time

from _common import machine, met, temp_home

RECORDS = 50_000
REPEATS = 15
TARGET_MS = 10.0
MODELS = ("m1", "m2", "m3", "m4")
TYPES = ("testing", "review", "code", "planning", None)


def settings(learning: bool):
    from agent_agency_cli.config import Settings

    models = {m: {"provider": "local", "price_in": 1, "price_out": 2} for m in MODELS}
    return Settings.model_validate({"models": {
        "providers": {"local": {"base_url": "http://127.0.0.1:1/v1"}}, "models": models,
        "selection": {"default": {"primary": "m1", "fallbacks": ["m2", "m3", "m4"]},
                      "learning_min_runs": 5 if learning else None}}})


def fill(store) -> None:
    from agent_agency_cli.executors.base import StepOutcome
    from agent_agency_cli.learning.records import learning_row

    rnd = random.Random(7)
    rows = []
    for i in range(RECORDS):
        if i % 10 == 0:
            m = rnd.choice(MODELS)
            sql, params = learning_row("model", {"model": "auto", "type": rnd.choice(TYPES)},
                                       StepOutcome(ok=rnd.random() < 0.8, extra={"model": m, "cost": 0.001}),
                                       rnd.random(), None)
        else:
            sql, params = learning_row("shell", {"run": f"prog{i % 300} --x {i}"}, StepOutcome(ok=True),
                                       rnd.random(), None)
        rows.append(params)
    with store.conn as conn:
        conn.executemany(sql, rows)


def main() -> None:
    from agent_agency_cli.orchestration.intake import Intake
    from agent_agency_cli.orchestrator import TaskOrchestrator

    plan = {"steps": [{"name": f"s{i}", "model": "auto", "prompt": "p", **({"type": t} if t else {})}
                      for i, t in enumerate(TYPES * 4)]}
    print(machine())
    with temp_home() as home:
        orch = TaskOrchestrator(home=home)
        fill(orch.store)
        on, off = Intake(settings(True), orch.store), Intake(settings(False), orch.store)
        request = {"description": "bench", "plan": plan}
        _task, steps = on.prepare(request)
        assert "runs of type" in steps[0]["spec"]["selection"]["reasoning"]
        times: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(REPEATS):
            for name, intake in (("off", off), ("on", on)):
                t0 = time.perf_counter()
                intake.prepare(request)
                times[name].append(time.perf_counter() - t0)
    on_ms, off_ms = (statistics.median(times[k]) * 1000 for k in ("on", "off"))
    ratio = on_ms / off_ms
    print(f"intake of 20 model: auto steps, {RECORDS:,} learning records: learning on {on_ms:.1f} ms, "
          f"config order only {off_ms:.1f} ms (median of {REPEATS})")
    added = on_ms - off_ms
    print(f"ratio {ratio:.2f}x; learning adds {added:.1f} ms (target <= {TARGET_MS:.0f} ms): "
          f"{met(added <= TARGET_MS)}")


if __name__ == "__main__":
    main()

"""Estimates from what was learnt: a step's own previous durations first (the durations
table, by step signature), else the learning aggregates of similar steps (same kind,
program/tool/model and type), local and imported. Each estimate says where it came from."""

from __future__ import annotations

from typing import Any

from agent_agency_cli.learning.aggregate import class_estimates
from agent_agency_cli.learning.records import class_signature, step_class

SPEC_KEYS = {"run", "python", "tool", "model", "type"}


def learned_estimates(store: Any, steps: list[Any], signatures: dict[str, str]
                      ) -> tuple[list[float | None], dict[str, int], dict[str, str]]:
    """(estimate per step, {step: runs it is based on}, {step: "this step" | "similar steps"}).

    `steps` are PlanSteps; `signatures` their per-step signatures (orchestrator.step_signature).
    A step with nothing learnt keeps its plan `estimate`.
    """
    own = store.learned_durations(list(signatures.values()))
    classes = {s.name: class_signature(*step_class(s.kind, s.model_dump(include=SPEC_KEYS))) for s in steps
               if own.get(signatures[s.name]) is None}
    similar = class_estimates(store.conn, classes.values()) if classes else {}
    estimates: list[float | None] = []
    runs: dict[str, int] = {}
    source: dict[str, str] = {}
    for s in steps:
        hit = own.get(signatures[s.name])
        if hit:
            estimates.append(hit[0])
            runs[s.name], source[s.name] = hit[1], "this step"
            continue
        hit = similar.get(classes.get(s.name, ""))
        if hit and s.estimate is None:
            estimates.append(hit[0])
            runs[s.name], source[s.name] = hit[1], "similar steps"
        else:
            estimates.append(s.estimate)
    return estimates, runs, source

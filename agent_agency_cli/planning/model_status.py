"""Model facts for status, result and metrics: each model step's selection and calls,
the task's totals (the seed's TaskMetrics.model_calls), and how its plan was made."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from agent_agency_cli.store import Store


def add_model_info(data: dict[str, Any], store: Store, task_id: str, step_rows: list[sqlite3.Row]) -> None:
    """Fill status JSON: steps[].model, model_calls (totals + every call), plan.source/not_planned."""
    from agent_agency_cli.store.model_calls import get_plan, model_calls, totals  # lazy: keeps start-up light

    calls = model_calls(store, task_id)
    by_step: dict[str | None, list[dict[str, Any]]] = {}
    for c in calls:
        by_step.setdefault(c["step"], []).append(c)
    specs = {r["name"]: r["spec"] for r in step_rows if r["kind"] == "model"}
    for s in data["steps"]:
        if s["name"] not in specs:
            continue
        sel = json.loads(specs[s["name"]]).get("selection") or {}
        mine = by_step.get(s["name"], [])
        used = [c["model"] for c in mine if c["status"] == "ok"]
        s["model"] = {"selected": sel.get("primary"), "fallbacks": sel.get("fallbacks", []),
                      "reasoning": sel.get("reasoning"), "used": used[-1] if used else None,
                      **{k: v for k, v in totals(mine).items() if k != "models"}}
    data["model_calls"] = {**totals(calls), "calls_list": calls}
    plan = get_plan(store, task_id)
    data["plan"]["source"] = plan["source"] if plan else "file"
    data["plan"]["planner_model"] = plan["model"] if plan else None
    data["plan"]["not_planned"] = plan["notes"] if plan else []

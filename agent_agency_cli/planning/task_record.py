"""What is stored with a new task about its plan: how it was made (file, built-in planner,
planner model) and what could not be planned, the planner's model calls, and each model
step's selection as a `model_selected` event."""

from __future__ import annotations

from typing import Any

from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.store import Store


def record_plan(store: Store, task_id: str, planned: Any, steps: list[dict[str, Any]],
                secrets: list[str] | None = None) -> None:
    """`steps` are the stored (sealed) step rows; `secrets` the task's secret values, masked here."""
    from agent_agency_cli.store.model_calls import add_model_call, save_plan  # lazy: keeps start-up light

    if planned is not None:
        from agent_agency_cli.security.masking import Masker  # lazy: keeps start-up light

        mask = Masker(secrets or [])
        notes = [mask(n) for n in planned.notes]
        shown = {**{k: mask(v) for k, v in planned.data.items() if isinstance(v, str)},
                 "steps": [{"name": r["name"], **{k: v for k, v in r["spec"].items()
                                                  if k not in ("name", "selection")}} for r in steps]}
        save_plan(store, task_id, planned.source, mask(_yaml(shown)), notes, planned.model)
        store.add_event(task_id, EventKind.TASK_PLANNED, {"source": planned.source, "model": planned.model,
                                                  "steps": len(steps), "not_planned": notes})
        for call in planned.calls:
            add_model_call(store, task_id, None, None, call)
    for row in steps:
        sel = row["spec"].get("selection")
        if sel:
            store.add_event(task_id, EventKind.MODEL_SELECTED, {"model": sel["primary"], "fallbacks": sel["fallbacks"],
                                                        "reasoning": sel["reasoning"]}, step=row["name"])


def _yaml(data: Any) -> str:
    import yaml  # lazy: keeps start-up light

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

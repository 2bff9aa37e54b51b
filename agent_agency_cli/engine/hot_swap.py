"""Model hot-swap (`task modify ID --model NAME | --model STEP=NAME`): switch the model of
model steps that have not started yet, with an audited `model_swapped` event (old, new, who).

Used by the engine (a running task: its in-memory steps change too) and by the direct
path (a queued or paused task no engine holds).
"""

from __future__ import annotations

import json
from typing import Any

from agent_agency_cli.errors import BadInputError, ConflictError, NotFoundError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import StepStatus
from agent_agency_cli.rows import StepSpec
from agent_agency_cli.store import Store

NOT_STARTED = (StepStatus.PENDING, StepStatus.AWAITING_APPROVAL, StepStatus.WAITING_RESOURCES)
ALL = "*"


def swap_models(store: Store, task_id: str, change: dict[str, Any], settings: Any,
                live: dict[str, Any] | None = None, running: set[str] | None = None) -> str:
    """Apply `change` = {"steps": {STEP or "*": MODEL}, "who": ...}; the message says what changed.

    ConflictError when a named step has started, or when no model step is left to swap."""
    from agent_agency_cli.planning.selection import swap_selection  # lazy: keeps start-up light

    wanted: dict[str, str] = change["steps"]
    who = change.get("who")
    rows = {r["name"]: r for r in store.get_steps(task_id)}
    swapped: list[str] = []
    for name, row in rows.items():
        if row["kind"] != "model":
            continue
        new = wanted.get(name) or wanted.get(ALL)
        if new is None:
            continue
        st = live.get(name) if live else None
        status = st.status if st is not None else StepStatus(row["status"])
        attempt = st.attempt if st is not None else row["attempt"]
        started = status not in NOT_STARTED or attempt > 0 or (running is not None and name in running
                                                               and status is not StepStatus.AWAITING_APPROVAL)
        agent_running = bool(st is not None and st.spec.tools and status is StepStatus.RUNNING)
        if started and not agent_running:  # a running agent loop takes the new model at its next turn
            if name in wanted:
                raise ConflictError(f"step {name!r} has already started ({status}); a model can only be "
                                    "swapped before its step starts")
            continue
        spec = st.spec if st is not None else StepSpec.from_json(row["spec"], f"task {task_id} step {name!r}")
        old = (spec.selection or {}).get("primary") or spec.model
        if old == new:
            continue
        spec = spec.replace(model=new, selection=swap_selection(spec.selection, new, settings.models))
        store.update_step_fields(task_id, name, spec=json.dumps(spec.to_json()))
        store.add_event(task_id, EventKind.MODEL_SWAPPED, {"old": old, "new": new, "who": who}, step=name)
        if st is not None:
            st.spec = spec
        swapped.append(f"{name} {old} -> {new}")
    if not swapped:
        raise ConflictError(f"task {task_id}: no model step left to swap (each has started or already uses "
                            "that model)")
    return "model " + ", ".join(swapped)


def parse_model_changes(store: Store, task_id: str, values: list[str], settings: Any) -> dict[str, str]:
    """`--model NAME` / `--model STEP=NAME` -> {STEP or "*": NAME}; BadInputError/NotFoundError (one line)."""

    kinds = {r["name"]: r["kind"] for r in store.get_steps(task_id)}
    out: dict[str, str] = {}
    for value in values:
        step, sep, model = value.partition("=")
        if not sep:
            step, model = ALL, value
        step, model = step.strip(), model.strip()
        if not model:
            raise BadInputError(f"--model {value!r}: give NAME or STEP=NAME")
        if model not in settings.models.models:
            known = ", ".join(sorted(settings.models.models)) or "none configured"
            raise BadInputError(f"--model {value!r}: model {model!r} is not configured (known: {known})")
        if step != ALL:
            if step not in kinds:
                raise NotFoundError(f"task {task_id} has no step named {step!r}")
            if kinds[step] != "model":
                raise BadInputError(f"--model {value!r}: step {step!r} is a {kinds[step]} step, not a model step")
        elif "model" not in kinds.values():
            raise BadInputError(f"task {task_id} has no model steps to swap")
        out[step] = model
    return out

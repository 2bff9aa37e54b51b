"""What a step may read and record beyond its own process: the task's text (for prompt
templates), earlier steps' outputs, its own events, model calls and endpoint breakers.

Filled into the AttemptContext by engine/attempt.py; the executors stay free of the store.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agent_agency_cli.event_kinds import EventKind

if TYPE_CHECKING:
    from agent_agency_cli.engine.runner import StepState, TaskRunner


def task_text(runner: TaskRunner) -> dict[str, Any]:
    """Description and requirements (read once per runner; requirements follow `task modify`)."""
    cached = runner.executor_cache.get("task_text")
    if cached is None:
        task = runner.store.get_task(runner.task_id)
        cached = runner.executor_cache["task_text"] = {"description": task["description"]}
    return {**cached, "requirements": list(runner.requirements)}


def step_output(runner: TaskRunner, name: str) -> str | None:
    """An earlier step's output: a model step's full answer, else its recorded result."""
    from agent_agency_cli.executors.model import outputs_dir  # lazy: keeps start-up light

    path = outputs_dir(runner.workspace) / f"{name}.txt"
    if path.is_file():
        return path.read_text(encoding="utf-8", errors="replace")
    payload = runner.store.last_event_payload(runner.task_id, name, EventKind.STEP_COMPLETED)
    if payload is None:
        return None
    result = payload.get("result")
    if result is None:
        return ""
    if isinstance(result, dict) and result.get("model") and isinstance(result.get("output"), str):
        return result["output"]  # a model step's answer (whole: a longer one has its file above)
    return result if isinstance(result, str) else json.dumps(result)


def context_fields(runner: TaskRunner, st: StepState) -> dict[str, Any]:
    """The AttemptContext fields for what a step reads and records (every kind gets them:
    the engine does not branch on the kind; only model and tool steps use them so far)."""
    from agent_agency_cli.store.model_calls import add_model_call  # lazy: keeps start-up light

    attempt = st.attempt
    return {
        "task_text": task_text(runner),
        "step_output": lambda name: step_output(runner, name),
        "emit": lambda kind, payload: runner.store.add_event(runner.task_id, kind, payload, step=st.name),
        "record_call": lambda call: add_model_call(runner.store, runner.task_id, st.name, attempt, call),
        "breakers": runner.engine.breakers,
    }

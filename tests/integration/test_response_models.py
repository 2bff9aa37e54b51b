"""`--json` outputs and events are what the shared response models declare.

A real task (a retried step, a gate, a declared output, a dependent that is skipped) runs in
the foreground; its `task status|result|list|events --json` must validate against the models
of `agent_agency_cli.responses`, every key it holds must be declared there (a new key fails
here until it is documented), and every event's kind and payload must match
`EventKind` and its payload model.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.event_payloads import payload_model
from agent_agency_cli.responses import EventView, MetricsView, ResultView, TaskSummary, TaskView

PLAN = """\
name: shapes
description: every kind of step outcome the JSON shows
steps:
  - name: build
    run: echo built > out.txt
    outputs: [out.txt]
    gates:
      - {type: functional_test, command: "test -s out.txt"}
  - name: flaky
    needs: [build]
    run: "if [ -e tried ]; then echo ok; else touch tried; exit 3; fi"
    retries: {attempts: 1, initial: 0.01s, max: 0.01s, jitter: 0}
  - name: broken
    needs: [build]
    run: exit 7
  - name: after-broken
    needs: [broken]
    run: echo never
"""


def _undeclared(data: Any, model: type[BaseModel], where: str = "") -> list[str]:
    """Keys of `data` that `model` (recursively, through nested models) does not declare."""
    out: list[str] = []
    if not isinstance(data, dict):
        return out
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            out.append(f"{where}{key}")
            continue
        sub = _nested_model(field.annotation)
        if sub is None:
            continue
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            out.extend(_undeclared(item, sub, f"{where}{key}[{i}]." if isinstance(value, list) else f"{where}{key}."))
    return out


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


@pytest.fixture
def finished_task(cli, write_plan) -> str:
    res = cli("task", "create", "--plan", str(write_plan(PLAN)), "--foreground")
    assert res.returncode == 1, res.stderr  # `broken` fails the task
    return res.stdout.strip()


def test_status_result_list_and_events_match_the_models(cli, finished_task):
    tid = finished_task
    status = cli.json("task", "status", tid, "--verbose")
    view = TaskView.model_validate(status)
    assert view.status == "failed" and view.failed_step == "broken"
    assert {s.name: s.status for s in view.steps} == {
        "build": "completed", "flaky": "completed", "broken": "failed", "after-broken": "skipped"}
    assert view.steps[0].gates and view.steps[0].gates[0].status == "passed"
    assert view.attempts and view.interventions == []
    assert _undeclared(status, TaskView) == []

    res = cli("task", "result", tid, "--json")
    assert res.returncode == 1, res.stderr  # the task's exit code
    result = json.loads(res.stdout)
    rv = ResultView.model_validate(result)
    assert rv.outputs[0].exists and rv.outputs[0].size == len("built\n")
    assert _undeclared(result, ResultView) == []

    listed = cli.json("task", "list")
    rows = TypeAdapter(list[TaskSummary]).validate_python(listed)
    assert [r.id for r in rows] == [tid]
    assert all(_undeclared(row, TaskSummary) == [] for row in listed)

    metrics = cli.json("task", "metrics", tid)
    mv = MetricsView.model_validate(metrics)
    assert [s.name for s in mv.steps] == ["build", "flaky", "broken", "after-broken"]
    assert mv.task.steps_total == 4 and mv.task.retry_count == 1 and mv.samples is None
    assert _undeclared(metrics, MetricsView) == []
    one = cli.json("task", "metrics", tid, "--step", "flaky")
    assert [s.name for s in MetricsView.model_validate(one).steps] == ["flaky"]
    assert _undeclared(one, MetricsView) == [] and "samples" in one and "summary" in one

    res = cli("task", "events", tid, "--json")
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    kinds = set()
    for ev in events:
        row = EventView.model_validate(ev)
        kinds.add(row.kind)
        payload_model(row.kind).model_validate(row.payload)
    # the run produced the kinds whose payloads the renderers read most
    assert {EventKind.TASK_CREATED, EventKind.STEP_STARTED, EventKind.STEP_RETRY, EventKind.STEP_COMPLETED,
            EventKind.STEP_FAILED, EventKind.STEP_SKIPPED, EventKind.GATE_RESULT,
            EventKind.TASK_FAILED} <= kinds


def test_the_undeclared_key_check_can_fail():
    assert _undeclared({"id": "x", "steps": [{"name": "a", "surprise": 1}], "novel": 2}, TaskView) == [
        "steps[0].surprise", "novel"]

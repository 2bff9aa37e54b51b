"""`task events --json` lines are spliced from the stored payload text when it needs no
rewriting; each line must equal the event's JSON (views.event_json) encoded compactly."""

from __future__ import annotations

import json
import time
from pathlib import Path

from agent_agency_cli.orchestration.event_lines import event_line
from agent_agency_cli.orchestration.views import event_json
from agent_agency_cli.orchestrator import TaskOrchestrator

PAYLOADS = [
    {},
    {"n": 1, "message": 'line "quoted" é ✓', "ratio": 0.1, "none": None, "list": [1, "x"]},
    {"deadline": 1_900_000_000.25, "reason": "late"},  # a time field: shown as ISO
    {"priority_rank": 3, "status": "queued"},  # an internal field: left out
    {"old": {"deadline": 1_900_000_000.0}, "new": {"deadline": None, "priority_rank": 1}},  # nested
    {"message": 'the text "deadline": 5 is a string, not a key'},  # escaped: spliced as stored
    {"started_at": "2026-11-30T00:00:00.000Z"},  # already ISO (not a number): unchanged
]


def test_every_line_is_the_event_json(home: Path) -> None:
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False)
        for i, payload in enumerate(PAYLOADS):
            orch.store.add_event(tid, "step_progress", step="a" if i % 2 else None, payload=payload)
        rows = orch.store.events_after(tid, 0, 100)
        lines = list(orch.event_lines(tid))
    assert len(rows) == len(lines) == len(PAYLOADS) + 1  # and task_created
    encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
    for row, line in zip(rows, lines, strict=True):
        assert line == encode(event_json(row)) == event_line(row)
    shown = [json.loads(x)["payload"] for x in lines[1:]]
    assert shown[2] == {"deadline": "2030-03-17T17:46:40.250Z", "reason": "late"}
    assert shown[3] == {"status": "queued"}
    assert shown[4] == {"old": {"deadline": "2030-03-17T17:46:40.000Z"}, "new": {"deadline": None}}
    assert shown[5] == PAYLOADS[5]


def test_lines_span_pages_in_id_order(home: Path, monkeypatch) -> None:
    from agent_agency_cli.orchestration import event_lines

    monkeypatch.setattr(event_lines, "PAGE", 7)
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False)
        for i in range(20):
            orch.store.add_event(tid, "step_progress", step="a", payload={"n": i, "ts": time.time()})
        ids = [json.loads(x)["id"] for x in orch.event_lines(tid)]
        after = [json.loads(x)["id"] for x in orch.event_lines(tid, ids[4])]
    assert len(ids) == 21 and ids == sorted(ids)
    assert after == ids[5:]

"""Events are checked against their payload models as they are written, under the flag the
suite sets (conftest.py); production writes are not checked."""

from __future__ import annotations

import pytest

from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.event_payloads import EventPayloadError, check_event
from agent_agency_cli.models import StepStatus
from agent_agency_cli.store import base


def _task(orch) -> str:
    return orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}, "description": "event checks"},
                            start_daemon=False)


def _events(orch, tid: str) -> list[str]:
    return [r["kind"] for r in orch.store.events_after(tid, 0)]


def test_the_suite_runs_with_the_check_on() -> None:
    assert base.CHECK_EVENTS is True


def test_a_matching_payload_passes_with_epoch_times() -> None:
    check_event(EventKind.STEP_RETRY, {"reason": "exit 3", "attempt": 1, "max_attempts": 2, "delay": 0.5,
                                       "next_retry_at": 1_800_000_000.0})  # written as epoch, read as ISO
    check_event(EventKind.STEP_COMPLETED, {"status": "completed", "duration": 0.1, "exit_code": 0, "extra": 1})


@pytest.mark.parametrize(("kind", "payload", "says"), [
    ("step_teleported", {}, "'step_teleported' is not an EventKind"),
    (EventKind.STEP_RETRY, {"reason": "x", "max_attempts": 2, "delay": 1.0}, "attempt: Field required"),
    (EventKind.TASK_CREATED, {"description": "d", "mode": "auto", "priority": "normal", "steps": "many",
                              "status": "queued"}, "steps: Input should be a valid integer"),
])
def test_a_drifting_payload_fails_loudly(kind: str, payload: dict, says: str) -> None:
    with pytest.raises(EventPayloadError, match=says):
        check_event(kind, payload)


def test_the_store_refuses_a_drifting_event_and_writes_nothing(orch) -> None:
    tid = _task(orch)
    before = _events(orch, tid)
    with pytest.raises(EventPayloadError, match="not an EventKind"):
        orch.store.add_event(tid, "step_teleported", {})
    with pytest.raises(EventPayloadError, match="StepOverridden"):
        orch.store.add_event(tid, EventKind.STEP_OVERRIDDEN, {"action": "skip"}, step="a")  # no reason
    with pytest.raises(EventPayloadError, match="StepFailed"):  # a step transition's event, same check
        orch.store.set_step_status(tid, "a", StepStatus.PENDING, StepStatus.SKIPPED, event=EventKind.STEP_FAILED,
                                   payload={"exit_code": "three"})
    assert _events(orch, tid) == before
    assert orch.store.get_step(tid, "a")["status"] == "pending"  # the transition was not applied


def test_production_writes_are_not_checked(orch, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_agency_cli.store import events

    monkeypatch.setattr(events, "CHECK_EVENTS", False)
    tid = _task(orch)
    orch.store.add_event(tid, EventKind.ALERT, {"anything": "goes"})
    assert _events(orch, tid)[-1] == "alert"

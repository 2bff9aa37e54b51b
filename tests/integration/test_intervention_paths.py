"""Every intervention through both paths — a task an engine (the daemon) holds, and a task
no engine holds (applied by the calling process) — leaves the same stored outcome: task
and step rows, events, completion, notification hooks, the intervention's row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_agency_cli.errors import ConflictError
from agent_agency_cli.orchestrator import TaskOrchestrator
from tests.conftest import wait_for


@pytest.fixture
def setup(tmp_path: Path, home: Path):
    """An orchestrator whose hooks log every event, and a plan whose first step runs until
    the test creates the file `go` (so "running" lasts exactly as long as the test needs)."""
    go = tmp_path / "go"
    hooks = tmp_path / "hooks.log"
    config = tmp_path / "config.yaml"
    config.write_text(f"""
task_execution: {{cancel_grace_period: 0.3s}}
notifications:
  hooks:
    - events: ["*"]
      command: 'echo "$AGENT_AGENCY_EVENT $AGENT_AGENCY_TASK_ID" >> {hooks}'
""")
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""
steps:
  - name: work
    run: while [ ! -e {go} ]; do sleep 0.02; done
  - name: after
    needs: [work]
    run: echo after
""")
    failing = tmp_path / "failing.yaml"
    failing.write_text("""
steps:
  - name: flaky
    run: exit 3
    on_failure: human
  - name: after
    needs: [flaky]
    run: echo after
""")
    orch = TaskOrchestrator(home, config=config)
    yield orch, plan, failing, hooks
    go.touch()  # let whatever still waits finish
    orch.close()


def _submit(orch: TaskOrchestrator, plan: Path, *, engine: bool) -> str:
    return orch.submit_task({"plan": str(plan), "description": "paths"}, start_daemon=engine)


def _running(orch: TaskOrchestrator, tid: str) -> None:
    wait_for(lambda: orch.get_status(tid)["steps"][0]["status"] == "running", timeout=20)


def _hooked(hooks: Path, event: str, tid: str) -> bool:
    return hooks.exists() and f"{event} {tid}" in hooks.read_text().splitlines()


def _outcome(orch: TaskOrchestrator, tid: str) -> dict[str, Any]:
    """What a person can see of the task afterwards, with its id written as ID."""
    st = orch.get_status(tid, interventions=True)
    iv = st["interventions"][-1]
    kinds = [e["kind"] for e in orch.events(tid) if e["kind"].startswith("task_")]
    return {
        "status": st["status"],
        "reason": st["reason"],
        "exit_code": st["exit_code"],
        "finished_at_set": st["finished_at"] is not None,
        "paused_at_set": st["paused_at"] is not None,
        "completion": st["completion"],
        "steps": {s["name"]: s["status"] for s in st["steps"]},
        "last_task_event": kinds[-1],
        "intervention": (iv["kind"], iv["outcome"], iv["message"].replace(tid, "ID")),
    }


def test_cancel(setup):
    orch, plan, _, hooks = setup
    direct = _submit(orch, plan, engine=False)
    orch.cancel(direct, reason="not needed")
    held = _submit(orch, plan, engine=True)
    _running(orch, held)
    orch.cancel(held, reason="not needed")
    a, b = _outcome(orch, held), _outcome(orch, direct)
    assert a == b
    assert a["status"] == "cancelled" and a["exit_code"] == 4 and a["finished_at_set"]
    assert a["completion"] == {"status": "cancelled", "reason": "not needed"}
    assert a["steps"] == {"work": "cancelled", "after": "cancelled"}
    assert orch.result(direct)["recoverable"] == orch.result(held)["recoverable"]
    assert _hooked(hooks, "task_cancelled", direct)  # delivered before cancel() returned
    wait_for(lambda: _hooked(hooks, "task_cancelled", held))


def test_pause_then_resume(setup):
    orch, plan, _, _ = setup
    direct = _submit(orch, plan, engine=False)
    orch.pause(direct)
    paused_direct = _outcome(orch, direct)
    held = _submit(orch, plan, engine=True)  # the daemon does not claim the paused one
    _running(orch, held)
    orch.pause(held)
    paused_held = _outcome(orch, held)
    assert paused_held["steps"]["work"] == "paused"  # its processes are stopped
    paused_direct.pop("steps"), paused_held.pop("steps")
    paused_direct.pop("intervention"), paused_held.pop("intervention")  # messages name what stopped
    assert paused_held == paused_direct
    assert paused_held["status"] == "paused" and paused_held["paused_at_set"]
    assert paused_held["last_task_event"] == "task_paused"

    orch.resume(held)
    orch.resume(direct)
    a, b = _outcome(orch, held), _outcome(orch, direct)
    # Where a resumed task goes is the one difference: back to its engine, or to the queue.
    assert (a.pop("status"), b.pop("status")) == ("running", "queued")
    a.pop("steps"), b.pop("steps")
    assert a.pop("intervention") == ("resume", "applied", "resumed task ID")
    assert b.pop("intervention") == ("resume", "applied", "resumed task ID (queued for the daemon)")
    assert a == b
    assert not a["paused_at_set"] and a["last_task_event"] == "task_resumed"


def test_modify(setup):
    orch, plan, _, _ = setup
    direct = _submit(orch, plan, engine=False)
    orch.pause(direct)  # keep it from the daemon
    held = _submit(orch, plan, engine=True)
    _running(orch, held)
    for tid in (held, direct):
        orch.modify(tid, priority="high", max_cpu=2, requirements="tests pass")
    payloads = []
    for tid in (held, direct):
        ev = [e for e in orch.events(tid) if e["kind"] == "task_modified"][-1]
        payloads.append(ev["payload"])
        st = orch.get_status(tid)
        assert (st["priority"], st["limits"], st["requirements"]) == ("high", {"max_cpu": 2}, ["tests pass"])
    assert payloads[0] == payloads[1]
    # the internal priority_rank is stored but never shown (issue 10)
    assert payloads[0]["old"] == {"priority": "normal", "limits": {}, "requirements": "[]"}
    assert _outcome(orch, held)["intervention"] == _outcome(orch, direct)["intervention"]


def test_escalate_override_approve_reject(setup):
    orch, plan, failing, hooks = setup
    # A task waiting in the queue has nothing to escalate, approve or reject; a running one
    # nothing to approve or reject: the same handler answers both paths, and the answer is
    # recorded.
    direct = _submit(orch, plan, engine=False)
    orch.pause(direct)  # keep it from the daemon
    held = _submit(orch, plan, engine=True)
    _running(orch, held)
    for tid, status in ((held, "running"), (direct, "paused")):
        for call in (lambda t: orch.approve(t), lambda t: orch.reject(t, reason="no")):
            with pytest.raises(ConflictError, match=f"is {status}; no step awaits approval"):
                call(tid)
            assert _outcome(orch, tid)["intervention"][1] == "rejected"
    with pytest.raises(ConflictError, match="nothing to escalate"):
        orch.escalate(direct, reason="look")
    orch.escalate(held, reason="look")
    assert orch.get_status(held)["status"] == "escalated"
    wait_for(lambda: _hooked(hooks, "task_escalated", held))

    # Override a failed step of an escalated task: once while the daemon holds it, once
    # after the daemon stopped and released it.
    one = _submit(orch, failing, engine=True)
    two = _submit(orch, failing, engine=True)
    for tid in (one, two):
        wait_for(lambda t=tid: orch.get_status(t)["status"] == "escalated", timeout=20)
    orch.override(one, "flaky", "skip", reason="known flake")
    orch.cancel(held)
    orch.stop_daemon()
    assert orch.daemon_status() is None
    orch.override(two, "flaky", "skip", reason="known flake")
    rows = []
    for tid in (one, two):
        flaky = next(s for s in orch.get_status(tid)["steps"] if s["name"] == "flaky")
        rows.append({k: flaky[k] for k in ("status", "overridden", "reason")} | {
            "finished_at_set": flaky["finished_at"] is not None})
        assert _outcome(orch, tid)["intervention"] == (
            "override", "applied", "step flaky: skip (known flake); task resumed")
    assert rows[0] == rows[1] == {"status": "skipped", "overridden": True, "reason": "override: known flake",
                                  "finished_at_set": True}
    # Both continue (the released one through the queue and the daemon the override
    # started) and end alike: done, with the skipped step as a gap.
    ends = [wait_for(lambda t=tid: orch.get_status(t)["finished"] and _outcome(orch, t), timeout=30)
            for tid in (one, two)]
    assert ends[0] == ends[1]
    assert ends[0]["status"] == "partially_completed"
    assert ends[0]["steps"] == {"flaky": "skipped", "after": "completed"}


def test_a_direct_cancel_that_loses_the_race_to_an_engine_changes_nothing(setup):
    """The calling process read the task as queued (no engine), then an engine claimed it
    before the cancel was written: the cancel is all or nothing — no step is left
    cancelled under the engine, no hook fires, and the request is recorded as rejected
    (seen once in a full run: the engine then failed the task on its cancelled step)."""
    from agent_agency_cli.errors import InvalidTransition
    from agent_agency_cli.event_kinds import EventKind
    from agent_agency_cli.models import TaskStatus

    orch, plan, _, hooks = setup
    tid = _submit(orch, plan, engine=False)
    stale = orch.store.get_task(tid)  # what the control path read: queued, no owner
    orch.store.set_task_status(tid, TaskStatus.QUEUED, TaskStatus.RUNNING,
                               event=EventKind.TASK_STARTED, payload={})  # the engine's claim
    with pytest.raises(InvalidTransition):
        orch._control._apply_here(stale, "cancel", {}, "too late")
    st = orch.get_status(tid, interventions=True)
    assert st["status"] == "running"
    assert {s["name"]: s["status"] for s in st["steps"]} == {"work": "pending", "after": "pending"}
    assert not any(e["kind"] == "step_cancelled" for e in orch.events(tid))
    assert st["interventions"][-1]["outcome"] == "rejected"
    assert not _hooked(hooks, "task_cancelled", tid)

"""Snapshots of the main screens (pytest-textual-snapshot). Tasks are queued, running or finished
and created with a frozen id, clock and user, so the pictures are the same everywhere.

Update after an intended change: `pytest tests/tui/test_snapshots.py --snapshot-update`,
then look at the SVGs under tests/tui/__snapshots__/.
"""

from __future__ import annotations

import time

from agent_agency_cli.tui.app import create_app
from tests.tui.conftest import FROZEN

STEPS = [
    {"name": "checkout", "run": "git clone --depth 1 repo src", "estimate": "0.5s"},
    {"name": "lint", "needs": ["checkout"], "run": "ruff check src", "estimate": "3s"},
    {"name": "compile-sources", "needs": ["checkout"], "run": "make -j2 all", "estimate": "1m"},
    {"name": "docs", "needs": ["checkout"], "run": "make docs", "estimate": "20s"},
    {"name": "test", "needs": ["lint", "compile-sources"], "run": "make test", "estimate": "30s"},
    {"name": "package", "needs": ["test", "docs"], "run": "make dist", "estimate": "5s"},
]


def _task(orch, frozen, tid="7f3a2c", **extra):
    request = {"plan": {"steps": STEPS}, "description": "Build and test the service",
               "priority": "high", "deadline": "2h", **extra}
    return frozen(orch.submit_task, request, start_daemon=False, id=tid)


def _app(orch, tid=None, theme=None):
    return create_app(orch, tid, clock=lambda: FROZEN + 42.0, theme=theme)


def test_task_screen_queued_80x24(orch, frozen, snap_compare, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    tid = _task(orch, frozen)
    assert snap_compare(_app(orch, tid), terminal_size=(80, 24))


def test_task_screen_cancelled_120x36_light(orch, frozen, snap_compare, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    tid = _task(orch, frozen)
    frozen(orch.cancel, tid, "wrong branch", at=FROZEN + 30)
    assert snap_compare(_app(orch, tid, theme="textual-light"), terminal_size=(120, 36))


def test_task_screen_no_color_100x30(orch, frozen, snap_compare):
    """NO_COLOR (set for every test): status stays readable by icon and word."""
    tid = _task(orch, frozen)
    frozen(orch.pause, tid, at=FROZEN + 10)
    assert snap_compare(_app(orch, tid), terminal_size=(100, 30))


def test_cancel_modal_80x24(orch, frozen, snap_compare, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    tid = _task(orch, frozen)
    assert snap_compare(_app(orch, tid), terminal_size=(80, 24), press=["c"])


def test_overview_80x24(orch, frozen, snap_compare, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    _task(orch, frozen, "7f3a2c")
    other = frozen(orch.submit_task, {"plan": {"steps": STEPS[:2]}, "description": "Nightly lint",
                                      "priority": "low"}, start_daemon=False, id="a1b2c3",
                   at=FROZEN - 3600)
    frozen(orch.cancel, other, "superseded", at=FROZEN - 3000)
    third = frozen(orch.submit_task, {"plan": {"steps": STEPS[:1]}, "description": "Fetch only",
                                      "priority": "urgent"}, start_daemon=False, id="c0ffee",
                   at=FROZEN - 60)
    frozen(orch.pause, third, at=FROZEN - 50)
    assert snap_compare(_app(orch), terminal_size=(80, 24))


def test_overview_filtered_100x30(orch, frozen, snap_compare, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    _task(orch, frozen, "7f3a2c")
    third = frozen(orch.submit_task, {"plan": {"steps": STEPS[:1]}, "description": "Fetch only"},
                   start_daemon=False, id="c0ffee", at=FROZEN - 60)
    frozen(orch.pause, third, at=FROZEN - 50)
    assert snap_compare(_app(orch), terminal_size=(100, 30), press=["slash", *"paused", "enter"])


def _run_steps(orch, tid, done: dict[str, tuple[float, float]], running: dict[str, float]) -> None:
    """Move the task and its steps as the engine does (the same store calls), each at a
    frozen time, so the running screen is the same on every machine: `done` steps ran
    from start to end, `running` steps started and are still on their way."""
    from agent_agency_cli.executors.base import log_timestamp
    from agent_agency_cli.models import StepStatus as S

    store = orch.store
    with_time = _at(FROZEN + 1)
    with_time(store.claim_task, tid, "engine-on-ana-box")
    for name, (start, end) in done.items():
        _at(FROZEN + start)(store.set_step_status, tid, name, S.PENDING, S.RUNNING, event="step_started",
                            payload={"attempt": 1, "max_attempts": 1, "worker": "w1"}, attempt=1,
                            started_at=FROZEN + start, worker="w1")
        _at(FROZEN + end)(store.set_step_status, tid, name, S.RUNNING, S.COMPLETED, event="step_completed",
                          payload={"exit_code": 0, "duration": end - start}, finished_at=FROZEN + end,
                          exit_code=0, duration=end - start, progress=1.0)
    for name, start in running.items():
        _at(FROZEN + start)(store.set_step_status, tid, name, S.PENDING, S.RUNNING, event="step_started",
                            payload={"attempt": 1, "max_attempts": 1, "worker": "w1"}, attempt=1,
                            started_at=FROZEN + start, worker="w1")
        log = orch.paths.step_log(tid, name)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(f"{log_timestamp(FROZEN + start + i)} out| cc -O2 -c {src}.c\n"
                               for i, src in enumerate(("parser", "lexer", "main"))))


def _at(ts: float):
    """fn called with time.time() fixed at ts."""

    def call(fn, *args, **kwargs):
        real = time.time
        time.time = lambda: ts
        try:
            return fn(*args, **kwargs)
        finally:
            time.time = real

    return call


def test_task_screen_running_100x30(orch, frozen, snap_compare, monkeypatch):
    """The headline screen: a task on its way, one step running (the steps before it done)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    tid = _task(orch, frozen)
    _run_steps(orch, tid, done={"checkout": (2.0, 2.4), "lint": (2.5, 5.6)},
               running={"compile-sources": 3.0})
    assert orch.get_status(tid)["status"] == "running"
    # elapsed and durations of running steps are computed from time.time() when read
    monkeypatch.setattr(time, "time", lambda: FROZEN + 42.0)
    assert snap_compare(_app(orch, tid), terminal_size=(100, 30))

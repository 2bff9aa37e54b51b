"""Strict mode in the TUI: a planner's plan waits in awaiting_review; the plan modal shows
it (steps, types, what runs them, needs, gates, what was not planned) and approves or
rejects it as a whole; a decision from another terminal closes it."""

from __future__ import annotations

import asyncio

import pytest

from agent_agency_cli.orchestrator import TaskOrchestrator
from agent_agency_cli.planning import plan_review
from agent_agency_cli.tui.app import create_app
from agent_agency_cli.tui.approval_modal import ApprovalModal
from agent_agency_cli.tui.plan_modal import PlanApprovalModal
from agent_agency_cli.tui.reason_modal import ReasonModal
from tests.tui.conftest import wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path):
    """A small Python project: the built-in planner lints and tests it."""
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    return root


def _request(project, description: str = "Keep calc healthy") -> dict:
    return {"description": description, "mode": "strict", "requirements": ["tested", "linted", "fast"],
            "workdir": str(project)}


def _plan_modal(app):
    return isinstance(app.screen, PlanApprovalModal) and app.screen


async def test_the_plan_modal_shows_the_plan_and_approving_lets_the_task_run(orch, project):
    tid = orch.submit_task(_request(project), start_daemon=True)
    assert orch.get_status(tid)["status"] == "awaiting_review"
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        modal = await wait_until(pilot, lambda: _plan_modal(app), what="plan modal")
        title = str(modal.query_one("#dialog-title").render())
        assert f"the plan of task {tid} awaits approval: 3 step(s) by the builtin planner" in title
        text = str(modal.query_one("#plan-summary").render())
        for needle in ("brief", "[planning]", "lint", "$ python3 -m compileall", "test", "[testing]",
                       "needs lint", "functional_test", "not planned: requirement 'fast'"):
            assert needle in text, needle
        await pilot.press("a")
        # Approved as a whole: queued, then strict mode asks for its first step.
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalModal) and app.screen.step_name == "brief",
                         what="the first step's approval")
        assert orch.get_status(tid)["status"] == "awaiting_approval"
        plan = plan_review.task_plan(orch, tid)
        assert plan["approved_by"] and not plan["awaiting_approval"]
        assert ("decide_plan", True) in [(m, ok) for m, ok, _ in app.results]


async def test_reject_asks_why_and_the_task_fails_with_that_reason(orch, project):
    tid = orch.submit_task(_request(project, "Reject this plan"), start_daemon=False)
    app = create_app(orch, tid)
    async with app.run_test(size=(80, 24)) as pilot:  # the smallest supported terminal
        await wait_until(pilot, lambda: _plan_modal(app), what="plan modal")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ReasonModal), what="reason modal")
        await pilot.press(*"too broad", "enter")
        await wait_until(pilot, lambda: orch.get_status(tid)["finished"], what="task finished")
        status = orch.get_status(tid)
        assert status["status"] == "failed" and "too broad" in (status["reason"] or "")
        assert not _plan_modal(app)


async def test_later_keeps_waiting_and_a_decision_elsewhere_closes_the_modal(orch, project, home):
    tid = orch.submit_task(_request(project, "Decided elsewhere"), start_daemon=False)
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: _plan_modal(app), what="plan modal")
        await pilot.press("escape")  # later: the plan still waits, the modal is not forced back
        await wait_until(pilot, lambda: not _plan_modal(app), what="modal closed")
        assert orch.get_status(tid)["status"] == "awaiting_review"
        for _ in range(5):
            await pilot.pause()
        assert not _plan_modal(app)

    # A fresh `task watch` asks again.
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: _plan_modal(app), what="plan modal again")

        def approve_elsewhere() -> str:
            with TaskOrchestrator(home=home) as other:
                return plan_review.decide(other, tid, approve=True, reason="ok from a shell")

        assert "plan approved" in await asyncio.to_thread(approve_elsewhere)
        await wait_until(pilot, lambda: not _plan_modal(app), what="modal closed by the decision elsewhere")
        # Approved: queued, and a daemon (started by the approval) may already have claimed it.
        assert orch.get_status(tid)["status"] in ("queued", "running", "awaiting_approval")

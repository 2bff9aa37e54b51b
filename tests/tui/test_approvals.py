"""Strict mode in the TUI: the approval modal opens for each waiting step, approving lets
the task go on, an approval from another terminal closes the modal, reject asks why."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Button

from agent_agency_cli.orchestrator import TaskOrchestrator
from agent_agency_cli.tui.app import create_app
from agent_agency_cli.tui.approval_modal import ApprovalModal
from agent_agency_cli.tui.reason_modal import ReasonModal
from agent_agency_cli.tui.task_screen import TaskScreen
from tests.tui.conftest import shell_plan, wait_until

pytestmark = pytest.mark.anyio

PLAN = shell_plan(
    {"name": "build", "run": "echo building", "description": "compile it"},
    {"name": "ship", "needs": ["build"], "run": "echo shipping"},
    {"name": "tell", "needs": ["ship"], "run": "echo telling"},
    mode="strict", description="strict task")


def _modal_for(app, step: str):
    screen = app.screen
    return isinstance(screen, ApprovalModal) and screen.step_name == step and screen


async def test_modal_opens_and_approving_lets_the_task_go_on(orch, home):
    tid = orch.submit_task(PLAN, start_daemon=True)
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        modal = await wait_until(pilot, lambda: _modal_for(app, "build"), what="modal for build")
        summary = modal.query_one("#approval-summary").render()
        text = str(summary)
        assert "echo building" in text and "workdir" in text and "gates" in text
        await pilot.press("d")  # details toggle
        assert modal.query_one("#approval-details").display
        await pilot.press("a")
        await wait_until(pilot, lambda: _modal_for(app, "ship"), what="modal for ship")
        assert orch.get_status(tid)["steps"][0]["status"] == "completed"

        # an approval from another terminal closes the modal by itself
        def approve_elsewhere() -> str:
            with TaskOrchestrator(home=home) as other:
                return other.approve(tid)

        await asyncio.to_thread(approve_elsewhere)
        await wait_until(pilot, lambda: not _modal_for(app, "ship"), what="ship's modal closed")
        # the last step: approve all remaining via the button
        modal = await wait_until(pilot, lambda: _modal_for(app, "tell"), what="modal for tell")
        # laid out before it is clicked
        # composed and laid out before it is clicked (the modal is found as soon as it is pushed)
        await wait_until(pilot, lambda: any(b.region.width > 0 for b in modal.query("#all")),
                         what="button laid out")
        await pilot.click("#all")
        await wait_until(pilot, lambda: orch.get_status(tid)["status"] == "completed",
                         what="task completed")
        assert isinstance(app.screen, TaskScreen)


async def test_reject_asks_for_a_reason_and_fails_the_step(orch):
    tid = orch.submit_task(PLAN, start_daemon=True)
    app = create_app(orch, tid)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: _modal_for(app, "build"), what="modal for build")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ReasonModal), what="reason modal")
        await pilot.press(*"not today", "enter")
        await wait_until(pilot, lambda: orch.get_status(tid)["finished"], what="task finished")
        status = orch.get_status(tid)
        assert status["status"] == "failed"
        assert "not today" in (status["steps"][0]["reason"] or status["reason"] or "")
        assert not isinstance(app.screen, ApprovalModal)


async def test_escape_defers_and_a_approves_from_the_main_screen(orch):
    tid = orch.submit_task(PLAN, start_daemon=True)
    app = create_app(orch, tid)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: _modal_for(app, "build"), what="modal for build")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, TaskScreen))
        # the steps table shows the waiting step; the modal is not re-opened for it
        await wait_until(pilot, lambda: isinstance(app.screen, TaskScreen) and "approve?" in
                         app.screen.query_one("#steps").get_cell("build", "prog").plain,
                         what="build shown awaiting approval")
        assert isinstance(app.screen, TaskScreen)
        await pilot.press("a")
        await wait_until(pilot, lambda: _modal_for(app, "ship"), what="modal for the next step")
    orch.cancel(tid, "test over")


async def test_reject_with_nothing_awaiting_approval_says_so(orch):
    # issue 11: `x` asked for a reason although nothing was waiting
    tid = orch.submit_task(shell_plan({"name": "a", "run": "echo a"}, description="auto task"),
                           start_daemon=False)
    app = create_app(orch, tid)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TaskScreen), what="task screen")
        await pilot.press("x")
        await wait_until(pilot, lambda: any("nothing to reject" in str(n.message) for n in app._notifications),
                         what="a notice")
        assert not isinstance(app.screen, ReasonModal)


GROUP_PLAN = shell_plan(
    {"name": "prep", "run": "echo prep"},
    {"name": "lint", "needs": ["prep"], "run": "echo lint"},
    {"name": "unit", "needs": ["prep"], "run": "echo unit"},
    {"name": "docs", "needs": ["prep"], "run": "echo docs"},
    {"name": "ship", "needs": ["lint", "unit", "docs"], "run": "echo ship"},
    mode="strict", description="strict task with a parallel group")


async def test_the_modal_approves_a_whole_parallel_group(orch):
    # issue 11: approve a whole parallel group at once, in the modal too (`task approve --group`)
    tid = orch.submit_task(GROUP_PLAN, start_daemon=True)
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        modal = await wait_until(pilot, lambda: _modal_for(app, "prep"), what="modal for prep")
        assert not modal.group and not list(modal.query("#group"))  # alone in its group: no group button
        await pilot.press("a")
        first = await wait_until(pilot, lambda: next((s for s in ("lint", "unit", "docs") if _modal_for(app, s)),
                                                     None), what="a modal for the group")
        modal = app.screen
        assert isinstance(modal, ApprovalModal)
        assert sorted([first, *modal.group]) == ["docs", "lint", "unit"]
        await wait_until(pilot, lambda: any(b.region.width > 0 for b in modal.query("#group")),
                         what="the group button laid out")
        assert "Approve group (3)" in str(modal.query_one("#group", Button).label)
        await pilot.press("g")
        # the three start without asking again; the next question is about ship
        await wait_until(pilot, lambda: _modal_for(app, "ship"), what="modal for ship")
        steps = {s["name"]: s["status"] for s in orch.get_status(tid)["steps"]}
        assert all(steps[n] == "completed" for n in ("lint", "unit", "docs")), steps
        approvals = [e for e in orch.events(tid, 0, 1000) if e["kind"] == "approval_requested"]
        assert [e["step"] for e in approvals] == ["prep", first, "ship"]
        await pilot.press("a")
        await wait_until(pilot, lambda: orch.get_status(tid)["status"] == "completed", what="task completed")

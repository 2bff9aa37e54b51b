"""The overview screen: every task with status, priority, progress and age; filter by
status; Enter opens a task, Escape comes back; actions on the selected task."""

from __future__ import annotations

import pytest

from agent_agency_cli.tui.app import create_app
from agent_agency_cli.tui.overview_screen import OverviewScreen
from agent_agency_cli.tui.reason_modal import ReasonModal
from agent_agency_cli.tui.task_screen import TaskScreen
from tests.tui.conftest import shell_plan, wait_until

pytestmark = pytest.mark.anyio


def _three(orch):
    queued = orch.submit_task(shell_plan({"name": "a", "run": "true"}, description="queued one"),
                              start_daemon=False)
    paused = orch.submit_task(shell_plan({"name": "a", "run": "true"}, description="paused one",
                                         priority="high"), start_daemon=False)
    orch.pause(paused)
    cancelled = orch.submit_task(shell_plan({"name": "a", "run": "true"},
                                            description="cancelled one"), start_daemon=False)
    orch.cancel(cancelled, "not needed")
    return queued, paused, cancelled


async def test_lists_filters_and_opens_tasks(orch):
    _, paused, _ = _three(orch)
    app = create_app(orch)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, OverviewScreen)
        table = app.screen.query_one("#tasks")
        assert table.row_count == 3
        row = [c.plain for c in table.get_row(paused)]
        assert row[0] == paused and "paused" in row[1] and row[2] == "high" and "0/1" in row[3]
        # filter by status
        await pilot.press("slash", *"paused")
        await wait_until(pilot, lambda: table.row_count == 1)
        await pilot.press("enter")  # keeps the filter, back to the table
        assert table.has_focus
        assert "filter: paused" in str(app.screen.query_one("#overview-header").render())
        await pilot.press("enter")  # opens the task
        await wait_until(pilot, lambda: isinstance(app.screen, TaskScreen), what="task screen")
        assert app.screen.task_id == paused
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("slash", "escape")
        await wait_until(pilot, lambda: table.row_count == 3)


async def test_new_tasks_and_changes_appear_live(orch):
    _three(orch)
    app = create_app(orch)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#tasks")
        assert table.row_count == 3
        new = orch.submit_task(shell_plan({"name": "a", "run": "true"}, description="late"),
                               start_daemon=False)
        await wait_until(pilot, lambda: table.row_count == 4, what="new task listed")
        orch.pause(new)
        await wait_until(pilot, lambda: "paused" in table.get_row(new)[1].plain, what="paused shown")


async def test_actions_on_the_selected_task(orch):
    queued, paused, cancelled = _three(orch)
    app = create_app(orch)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one("#tasks")
        table.move_cursor(row=table.get_row_index(queued))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press(*"dup", "enter")
        await wait_until(pilot, lambda: app.results, what="cancel answered")
        assert app.results[-1][:2] == ("cancel", True)
        assert orch.get_status(queued)["status"] == "cancelled"
        assert orch.get_status(queued)["reason"] == "dup"
        table.move_cursor(row=table.get_row_index(cancelled))
        await pilot.press("p")  # a cancelled task cannot be paused: an error, nothing else
        await wait_until(pilot, lambda: len(app.results) == 2)
        assert app.results[-1][:2] == ("pause", False)
        assert any(n.severity == "error" for n in app._notifications)
        table.move_cursor(row=table.get_row_index(paused))
        await pilot.press("r")  # resumes (and starts the daemon, which runs it)
        await wait_until(pilot, lambda: len(app.results) == 3, what="resume answered")
        assert app.results[-1][:2] == ("resume", True)
        await wait_until(pilot, lambda: "completed" in table.get_row(paused)[1].plain,
                         what="resumed task shown completed")


@pytest.mark.parametrize("cols", [80, 120, 180])
async def test_the_description_column_takes_the_free_width(orch, cols):
    # issue 11: the dashboard's description column takes the free width (a long description
    # is cut only at the table's right edge, not at a fixed width)
    long = "a long description " * 12
    tid = orch.submit_task(shell_plan({"name": "a", "run": "true"}, description=long.strip()),
                           start_daemon=False)
    app = create_app(orch)
    async with app.run_test(size=(cols, 24)) as pilot:
        table = app.screen.query_one("#tasks")
        await wait_until(pilot, lambda: table.row_count == 1 and table.region.width > 0, what="the task listed")
        shown = table.get_row(tid)[-1].plain
        used = sum(c.get_render_width(table) for c in table.columns.values())
        free = table.scrollable_content_region.width - used
        assert 0 <= free <= 3, (cols, used, table.scrollable_content_region.width)  # the scrollbar's room only
        assert shown.endswith("…") and len(shown) >= table.columns[list(table.columns)[-1]].width - 1

"""The task screen against REAL tasks run by the daemon: live updates, pause (SIGSTOP),
resume, cancel with a reason, refused actions, log following, quitting."""

from __future__ import annotations

import os

import psutil
import pytest

from agent_agency_cli.tui.app import create_app
from agent_agency_cli.tui.reason_modal import ReasonModal
from agent_agency_cli.tui.step_log import StepLogView
from agent_agency_cli.tui.task_screen import TaskScreen
from tests.conftest import all_stopped
from tests.tui.conftest import shell_plan, step_cell, wait_until

pytestmark = pytest.mark.anyio

LONG = {"name": "work", "run": "for i in $(seq 1 600); do echo tick $i; sleep 0.05; done",
        "estimate": 30}


def _group_states(pgid: int) -> list[str]:
    out = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(p.info["status"])
        except (ProcessLookupError, psutil.Error):
            continue
    return out


def _step(orch, tid: str, name: str) -> dict:
    return next(s for s in orch.get_status(tid)["steps"] if s["name"] == name)


async def test_steps_appear_and_change_status_live(orch, latch):
    gate = latch()
    tid = orch.submit_task(shell_plan(
        {"name": "first", "run": f"{gate.cmd}; echo one", "estimate": 0.6},
        {"name": "left", "needs": ["first"], "run": "echo left; sleep 0.3"},
        {"name": "right", "needs": ["first"], "run": "echo right; sleep 0.3"},
        {"name": "last", "needs": ["left", "right"], "run": "echo done"},
        description="live steps"), start_daemon=True)
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, TaskScreen)
        table = screen.query_one("#steps")
        assert table.row_count == 4
        # the DAG: left and right form a parallel group (bracketed), last is on the critical path
        assert "┌" in step_cell(app, "left") and "└" in step_cell(app, "right")
        assert "★" in step_cell(app, "last", "crit")
        await wait_until(pilot, lambda: step_cell(app, "first").lstrip().startswith("●"),
                         what="first shown running")
        gate.open()
        await wait_until(pilot, lambda: step_cell(app, "first").lstrip().startswith("✓"),
                         what="first shown completed")
        await wait_until(pilot, lambda: all(step_cell(app, n).lstrip().startswith("✓")
                                            for n in ("left", "right", "last")),
                         what="all steps completed")
        await wait_until(pilot, lambda: screen.feed.status["status"] == "completed")
        header = screen.query_one("#header").render().plain
        assert "completed" in header and "4/4" in header, header
        events = screen.query_one("#events")
        assert "task completed" in events.last_text or events.count >= 8
        # the selected step's log is shown
        log = screen.query_one("#log", StepLogView)
        table.focus()
        screen.query_one("#steps").select("left")
        await wait_until(pilot, lambda: any("left" in ln for ln in log.lines), what="left's log")


async def test_pause_really_stops_the_process_and_resume_continues(orch):
    tid = orch.submit_task(shell_plan(LONG), start_daemon=True)
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        pid = await wait_until(pilot, lambda: _step(orch, tid, "work")["pid"], what="step pid")
        await wait_until(pilot, lambda: step_cell(app, "work").lstrip().startswith("●"))
        await pilot.press("p")
        await wait_until(pilot, lambda: ("pause", True) in [(m, ok) for m, ok, _ in app.results],
                         what="pause applied")
        states = _group_states(pid)
        assert states and all_stopped(states), states
        await wait_until(pilot, lambda: app.screen.feed.status["status"] == "paused")
        await wait_until(pilot, lambda: step_cell(app, "work").lstrip().startswith("‖"),
                         what="step shown paused")
        assert "paused" in app.screen.query_one("#header").render().plain
        await pilot.press("r")
        await wait_until(pilot, lambda: ("resume", True) in [(m, ok) for m, ok, _ in app.results],
                         what="resume applied")
        states = _group_states(pid)
        assert states and all(s != psutil.STATUS_STOPPED for s in states), states
        await wait_until(pilot, lambda: app.screen.feed.status["status"] == "running")
    orch.cancel(tid, "test over")


async def test_cancel_asks_for_a_reason_and_ends_the_task(orch):
    tid = orch.submit_task(shell_plan(LONG, {"name": "after", "needs": ["work"], "run": "echo x"}),
                           start_daemon=True)
    app = create_app(orch, tid)
    async with app.run_test(size=(80, 24)) as pilot:
        pid = await wait_until(pilot, lambda: _step(orch, tid, "work")["pid"], what="step pid")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ReasonModal), what="reason modal")
        # Escape backs out: nothing happens
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, TaskScreen))
        assert orch.get_status(tid)["status"] == "running"
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press(*"wrong branch", "enter")
        await wait_until(pilot, lambda: orch.get_status(tid)["status"] == "cancelled",
                         what="task cancelled")
        assert orch.get_status(tid)["reason"] == "wrong branch"
        assert not _group_states(pid)
        await wait_until(pilot, lambda: app.screen.feed.status["status"] == "cancelled")
        await wait_until(pilot, lambda: step_cell(app, "after").lstrip().startswith("⊘"))
        events = app.screen.query_one("#events")
        await wait_until(pilot, lambda: "cancel applied" in events.last_text
                         or "task cancelled" in events.last_text, what="cancel in the audit trail")


async def test_an_action_the_state_forbids_shows_an_error(orch):
    tid = orch.submit_task(shell_plan({"name": "only", "run": "echo hi"}), start_daemon=False)
    app = create_app(orch, tid)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")  # a queued task cannot be resumed
        await wait_until(pilot, lambda: app.results, what="resume answered")
        method, ok, message = app.results[-1]
        assert (method, ok) == ("resume", False)
        assert "queued" in message and "nothing to resume" in message
        assert any(n.severity == "error" and "nothing to resume" in n.message
                   for n in app._notifications)
        await pilot.press("a")  # nothing awaits approval
        await wait_until(pilot, lambda: len(app.results) == 2)
        assert app.results[-1][:2] == ("approve", False)
    assert orch.get_status(tid)["status"] == "queued"


async def test_modify_changes_priority_and_deadline(orch):
    tid = orch.submit_task(shell_plan({"name": "only", "run": "echo hi"}), start_daemon=False)
    app = create_app(orch, tid)
    async with app.run_test(size=(80, 24)) as pilot:
        from textual.widgets import Input, Select

        from agent_agency_cli.tui.modify_modal import ModifyModal

        await pilot.press("m")
        modal = await wait_until(pilot, lambda: isinstance(app.screen, ModifyModal) and app.screen)
        modal.query_one("#priority", Select).value = "urgent"
        modal.query_one("#deadline", Input).focus()
        await pilot.press(*"2h", "enter")
        await wait_until(pilot, lambda: orch.get_status(tid)["priority"] == "urgent",
                         what="priority changed")
        assert orch.get_status(tid)["deadline"] is not None
        await wait_until(pilot, lambda: "urgent" in app.screen.query_one("#header").render().plain)
        await wait_until(pilot, lambda: "due 2:00:00" in app.screen.query_one("#header").render().plain
                         or "due 1:59:5" in app.screen.query_one("#header").render().plain)


async def test_log_follows_until_scrolled_up_and_l_toggles(orch):
    tid = orch.submit_task(shell_plan(LONG), start_daemon=True)
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.screen.query_one("#log", StepLogView)
        await wait_until(pilot, lambda: log.line_count > 30, what="log lines")
        assert log.following and log.is_vertical_scroll_end
        status = app.screen.query_one("#log-status")
        assert "following · l holds" in status.render().plain
        # l holds the log still: no new lines while held
        await pilot.press("l")
        assert not log.following
        held = log.line_count
        # the step writes more lines meanwhile (its log file grows), the view shows none of them
        on_disk = len(list(orch.log_lines(tid, "work")))
        await wait_until(pilot, lambda: len(list(orch.log_lines(tid, "work"))) > on_disk + 5,
                         what="more lines in the step's log file")
        assert log.line_count == held
        assert "held · l follows" in status.render().plain
        # l follows again: it catches up and stays at the end
        await pilot.press("l")
        await wait_until(pilot, lambda: log.line_count > held + 5, what="log catching up")
        assert log.following and log.is_vertical_scroll_end
        # scrolling up (keyboard, no mouse needed) stops following
        log.focus()
        await pilot.press("pageup")
        assert not log.following
        assert not log.is_vertical_scroll_end
        await pilot.press("end")
        assert log.following
    orch.cancel(tid, "test over")


async def test_quitting_never_affects_the_task(orch, latch):
    gate = latch()
    tid = orch.submit_task(shell_plan(
        {"name": "a", "run": f"{gate.cmd}; echo a"}, {"name": "b", "needs": ["a"], "run": "echo b"}),
        start_daemon=True)
    app = create_app(orch, tid)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: step_cell(app, "a").lstrip().startswith("●"))
        await pilot.press("q")
    assert not app.is_running
    status = orch.get_status(tid, interventions=True)
    assert status["status"] == "running" and status["interventions"] == []
    gate.open()
    assert orch.wait(tid, timeout=20)["status"] == "completed"


async def test_every_key_is_in_the_command_palette(orch):
    tid = orch.submit_task(shell_plan({"name": "only", "run": "echo hi"}), start_daemon=False)
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        titles = {c.title: c.help for c in app.get_system_commands(app.screen)}
        for key, word in (("p", "Pause"), ("r", "Resume"), ("c", "Cancel"), ("a", "Approve"),
                          ("x", "Reject"), ("m", "Modify"), ("l", "Follow"), ("/", "Filter")):
            title = next(t for t in titles if t.startswith(word))
            assert titles[title].endswith(f"key {key}"), (title, titles[title])
        # and it works from the palette: pause the queued task
        from textual.command import CommandList, CommandPalette

        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette open")
        await pilot.press(*"Pause the task")
        commands = app.screen.query_one(CommandList)

        def pause_highlighted() -> bool:
            index = commands.highlighted
            return index is not None and "Pause" in str(commands.get_option_at_index(index).prompt)

        await wait_until(pilot, pause_highlighted, what="'Pause' found in the palette")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.results, what="palette action")
        assert app.results[-1][:2] == ("pause", True)
    assert orch.get_status(tid)["status"] == "paused"


async def test_filter_steps(orch):
    steps = [{"name": f"s{i:02d}", "run": "true"} for i in range(12)]
    steps.append({"name": "special", "needs": ["s00"], "run": "true"})
    tid = orch.submit_task(shell_plan(*steps), start_daemon=False)
    app = create_app(orch, tid)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one("#steps")
        assert table.row_count == 13
        await pilot.press("slash", *"spec")
        await wait_until(pilot, lambda: table.row_count == 1)
        await pilot.press("enter")
        assert table.has_focus
        await pilot.press("slash", "escape")
        await wait_until(pilot, lambda: table.row_count == 13)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_layout_fits(orch, size):
    tid = orch.submit_task(shell_plan(
        {"name": "compile-sources-with-a-long-name", "run": "true", "estimate": 3},
        {"name": "b", "run": "true"}), start_daemon=False)
    app = create_app(orch, tid)
    async with app.run_test(size=size):
        screen = app.screen
        for wid in ("#header", "#steps", "#log", "#events"):
            region = screen.query_one(wid).region
            assert region.width > 0 and region.height > 0, wid
            assert region.right <= size[0] and region.bottom <= size[1], wid
        assert screen.query_one("#steps").region.height >= 8


async def test_a_failed_task_opens_on_the_failing_step(orch, cli, write_plan):
    # issue 11: the log pane opened on the last step, not on the one whose log says why
    plan = write_plan("steps:\n  - {name: prep, run: echo ready}\n"
                      "  - {name: boom, needs: [prep], run: 'echo why it broke; exit 3'}\n"
                      "  - {name: after, needs: [prep], run: echo fine}\n")
    res = cli.run("task", "create", "--plan", str(plan), "--foreground")  # its own process and loop
    tid = res.stdout.strip()
    assert orch.get_status(tid)["status"] == "failed"
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, TaskScreen)
        await wait_until(pilot, lambda: screen._selected == "boom", what="the failing step selected")
        log = screen.query_one("#log", StepLogView)
        await wait_until(pilot, lambda: log.line_count > 0, what="its log shown")


async def test_events_pane_grows_with_the_window_and_toasts_leave_it_free(orch):
    tid = orch.submit_task(shell_plan({"name": "a", "run": "echo a"}), start_daemon=False)
    heights = {}
    for rows in (40, 60):
        app = create_app(orch, tid)
        async with app.run_test(size=(100, rows), notifications=True) as pilot:
            await wait_until(pilot, lambda app=app: isinstance(app.screen, TaskScreen), what="task screen")
            await pilot.pause()
            events = app.screen.query_one("#events")
            heights[rows] = events.region.height
            app.screen.notify("a toast", timeout=30)
            await wait_until(pilot, lambda app=app: list(app.screen.query("Toast")), what="a toast")
            await pilot.pause()
            for toast in app.screen.query("Toast"):
                assert not toast.region.overlaps(events.region), (toast.region, events.region)
    assert heights[60] > heights[40] >= 7


async def test_a_flooding_log_keeps_the_newest_lines_and_says_what_it_left_out(orch):
    # issue 13: the log pane keeps a bounded number of lines and says what it dropped or skipped
    flood = {"name": "flood", "run": "seq -f 'line %05g' 0 19999; sleep 60", "estimate": 60}
    tid = orch.submit_task(shell_plan(flood), start_daemon=True)
    app = create_app(orch, tid)
    async with app.run_test(size=(140, 30)) as pilot:
        log = app.screen.query_one("#log", StepLogView)
        await wait_until(pilot, lambda: log.lines and log.lines[-1].endswith("line 19999"), what="the newest line")
        assert log.line_count <= log.max_lines
        status = app.screen.query_one("#log-status")
        skipped_inline = any("skipped (task logs --step flood shows all)" in ln for ln in log.lines)

        def says_what_was_left_out() -> bool:
            # How much is skipped unread (a mark where the gap is) or read and then dropped
            # depends on how far behind the reader was: the status names whichever happened.
            text = status.render().plain
            return ((log.dropped or skipped_inline)
                    and (not log.dropped or f"{log.dropped:,} older lines dropped" in text)
                    and (not skipped_inline or "skipped" in text))

        await wait_until(pilot, says_what_was_left_out, what="the status line's note")
        assert status.render().plain.startswith("following · l holds")
    orch.cancel(tid, "test over")


async def test_the_steps_table_redraws_only_the_rows_that_changed(orch):
    # issue 13: with 1,000 steps an update redraws the changed rows, not the table
    steps = [{"name": f"s{i:04d}", "run": "true"} for i in range(1000)]
    tid = orch.submit_task(shell_plan(*steps), start_daemon=False)
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#steps")
        await wait_until(pilot, lambda: len(table.steps) == 1000, what="the steps")
        table.update_rows(None)
        assert table.flush() == 0  # nothing changed: nothing redrawn
        table.steps["s0500"]["status"] = "running"
        table.steps["s0007"]["exit_code"] = 0  # not shown for a pending step: no redraw
        table.update_rows(None)
        assert table.flush() == 1
        assert "●" in step_cell(app, "s0500")

"""OverviewScreen: all tasks (status, priority, progress, age); filter; Enter opens one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static

from agent_agency_cli.tui.feed import TasksFeed
from agent_agency_cli.tui.filter_bar import FilterBar
from agent_agency_cli.tui.format import Palette, icon
from agent_agency_cli.tui.modify_modal import ModifyModal
from agent_agency_cli.tui.reason_modal import ReasonModal
from agent_agency_cli.tui.tasks_table import TasksTable

if TYPE_CHECKING:
    from agent_agency_cli.tui.app import AgencyApp

ACTION_HELP = {
    "open_task": "Open the selected task",
    "pause": "Pause the selected task",
    "resume": "Resume the selected task",
    "cancel_task": "Cancel the selected task (asks for a reason)",
    "modify": "Modify the selected task's priority or deadline",
    "filter": "Filter tasks by status or text",
}


class OverviewScreen(Screen):
    BINDINGS = [
        Binding("enter", "open_task", "open", show=True),
        Binding("p", "pause", "pause"),
        Binding("r", "resume", "resume"),
        Binding("c", "cancel_task", "cancel"),
        Binding("m", "modify", "modify"),
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.feed: TasksFeed | None = None
        self._timer: Any = None
        self._ticks = 0

    @property
    def agency(self) -> AgencyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="overview-header")
        yield TasksTable(self.agency.clock, id="tasks", classes="pane")
        yield FilterBar(placeholder="filter: a status (running, failed, active…) or words", id="filter")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#tasks").border_title = "Tasks"
        self.feed = TasksFeed(self.agency.orch)
        self._refresh(force=True)
        self.query_one("#tasks", TasksTable).focus()
        self._timer = self.set_interval(max(self.agency.poll_interval, 0.1), self._tick)

    def on_resize(self) -> None:
        # ^p stays bound; its footer hint only shows where all the keys still fit
        self.query_one(Footer).show_command_palette = self.size.width >= 100

    def on_screen_suspend(self) -> None:
        if self._timer is not None and not isinstance(self.app.screen, ModalScreen):
            self._timer.pause()

    def on_screen_resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()
            self._refresh(force=True)

    def _tick(self) -> None:
        self._ticks += 1
        every_second = self._ticks % max(1, round(1.0 / max(self.agency.poll_interval, 0.1))) == 0
        self._refresh(force=False, redraw=every_second)

    def _refresh(self, force: bool, redraw: bool = False) -> None:
        assert self.feed is not None
        try:
            changed = self.feed.poll(force=force)
        except Exception as exc:
            self.notify(f"cannot read tasks: {exc}", severity="error", timeout=3)
            return
        if changed or redraw:
            self.query_one("#tasks", TasksTable).show(self.feed.tasks)
            self._header()

    def _header(self) -> None:
        assert self.feed is not None
        pal = Palette.of(self.app)
        tasks = self.feed.tasks
        counts: dict[str, int] = {}
        for t in tasks:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        order = ("running", "awaiting_approval", "awaiting_review", "paused", "escalated", "queued",
                 "failed", "partially_completed", "completed", "cancelled")
        width = max(20, self.size.width - 2)
        for words in (True, False):
            line = Text.assemble(("agent-agency-cli", "dim"), "  ", (f"{len(tasks)} tasks", "bold"))
            for st in order:
                if counts.get(st):
                    line.append("  ")
                    label = f" {st.replace('_', ' ')}" if words else ""
                    line.append(f"{icon(st)} {counts[st]}{label}", style=pal.status(st))
            if line.cell_len <= width:
                break
        line.no_wrap = True
        line.overflow = "ellipsis"
        table = self.query_one("#tasks", TasksTable)
        if table.filter_text:
            line.append(f"  · filter: {table.filter_text}", style="italic")
        hint = Text("Enter opens a task · / filters by status or text", style="dim")
        self.query_one("#overview-header", Static).update(Text("\n").join([line, hint]))

    # -- actions ------------------------------------------------------------

    def _selected(self) -> str | None:
        tid = self.query_one("#tasks", TasksTable).selected()
        if tid is None:
            self.notify("no task selected", severity="warning", timeout=2)
        return tid

    def action_open_task(self) -> None:
        tid = self._selected()
        if tid:
            self.agency.open_task(tid)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.agency.open_task(str(event.row_key.value))

    def action_pause(self) -> None:
        if tid := self._selected():
            self.agency.call_orch("pause", tid)

    def action_resume(self) -> None:
        if tid := self._selected():
            self.agency.call_orch("resume", tid)

    def action_cancel_task(self) -> None:
        tid = self._selected()
        if not tid:
            return

        def done(reason: str | None) -> None:
            if reason is not None:
                self.agency.call_orch("cancel", tid, reason)

        self.app.push_screen(ReasonModal(f"Cancel task {tid}?", confirm="Cancel task",
                                         default="cancelled in the TUI"), done)

    def action_modify(self) -> None:
        tid = self._selected()
        if not tid:
            return
        assert self.feed is not None
        task = next((t for t in self.feed.tasks if t["id"] == tid), {})

        def done(changes: dict[str, str] | None) -> None:
            if changes is not None:
                self.agency.call_orch("modify", tid, **changes)

        self.app.push_screen(ModifyModal(tid, task.get("priority", "normal"), task.get("deadline")), done)

    def action_filter(self) -> None:
        self.query_one("#filter", FilterBar).open()

    def on_filter_bar_filter_changed(self, event: FilterBar.FilterChanged) -> None:
        table = self.query_one("#tasks", TasksTable)
        table.set_filter(event.text)
        self._header()
        if event.done:
            table.focus()

"""TaskScreen: one task, live — header, steps (DAG), the selected step's log and
details, the audit trail; keys to pause, resume, cancel, approve, reject, modify.

Updates: one timer every `poll_interval` (50 ms) asks the feed whether anything
was committed (`data_version`); new events are drawn at once, the full status
is re-read at a bounded rate. The selected step's log is tailed every other
tick; clocks (elapsed, ETA, countdown, running steps) move once a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer

from agent_agency_cli.tui.approval_modal import ApprovalModal
from agent_agency_cli.tui.events_panel import EventsPanel
from agent_agency_cli.tui.feed import TaskFeed
from agent_agency_cli.tui.filter_bar import FilterBar
from agent_agency_cli.tui.header import TaskHeader
from agent_agency_cli.tui.log_status import LogStatus
from agent_agency_cli.tui.metrics import MetricsRow
from agent_agency_cli.tui.modify_modal import ModifyModal
from agent_agency_cli.tui.plan_modal import PlanPrompt
from agent_agency_cli.tui.reason_modal import ReasonModal
from agent_agency_cli.tui.step_details import StepDetails
from agent_agency_cli.tui.step_log import FLOOD_READ, StepLogView
from agent_agency_cli.tui.steps import StepsTable

if TYPE_CHECKING:
    from agent_agency_cli.tui.app import AgencyApp

ACTION_HELP = {
    "pause": "Pause the task (running steps are stopped)",
    "resume": "Resume the task",
    "cancel_task": "Cancel the task (asks for a reason)",
    "approve": "Approve the step awaiting approval (its modal also approves its parallel group)",
    "reject": "Reject the step awaiting approval (asks for a reason)",
    "modify": "Modify the task's priority or deadline",
    "toggle_follow": "Follow the log / hold it still",
    "filter": "Filter the steps",
    "details": "Show more or fewer details of the step",
    "back": "Back to the list of tasks",
}


class TaskScreen(Screen):
    """Watch and steer one task."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    BINDINGS = [
        Binding("p", "pause", "pause"),
        Binding("r", "resume", "resume"),
        Binding("c", "cancel_task", "cancel"),
        Binding("a", "approve", "approve"),
        Binding("x", "reject", "reject"),
        Binding("m", "modify", "modify"),
        Binding("l", "toggle_follow", "follow"),
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("d", "details", "details", show=False),
        Binding("escape", "back", "tasks", show=False),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, task_id: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.requested_id = task_id
        self.feed: TaskFeed | None = None
        self._ticks = 0
        self._selected: str | None = None
        self._auto_select = True
        self._approval_modal: ApprovalModal | None = None
        self._plan_prompt = PlanPrompt(self)  # a planner's plan awaiting approval (strict mode)
        self._declined_step: str | None = None
        self._answered_step: str | None = None
        self._timer: Any = None
        self._metrics_key: Any = None
        self._log_flooding = False

    @property
    def agency(self) -> AgencyApp:
        return self.app  # type: ignore[return-value]

    @property
    def task_id(self) -> str:
        return self.feed.tid if self.feed else self.requested_id

    # -- layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield TaskHeader(self.agency.clock, id="header")
        with Horizontal(id="main"):
            with Vertical(id="steps-pane", classes="pane"):
                yield StepsTable(self.agency.clock, id="steps")
            with Vertical(id="side-pane", classes="pane"):
                yield StepDetails(id="details")
                yield MetricsRow(id="metrics")
                yield StepLogView(id="log")
                yield LogStatus(id="log-status")
        yield EventsPanel(id="events", classes="pane")
        yield FilterBar(id="filter")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#steps-pane").border_title = "Steps"
        self.query_one("#events").border_title = "Events"
        self.query_one("#metrics").display = False
        self.feed = TaskFeed(self.agency.orch, self.requested_id)
        history = self.feed.load()
        self.query_one("#events", EventsPanel).add_events(history)
        self._apply_full()
        self.query_one("#steps", StepsTable).focus()
        self._timer = self.set_interval(self.agency.poll_interval, self._tick)
        self.agency.theme_changed_signal.subscribe(self, self._restyle)

    def on_resize(self) -> None:
        # ^p stays bound; its footer hint only shows where all the keys still fit
        self.query_one(Footer).show_command_palette = self.size.width >= 100

    def on_unmount(self) -> None:
        if self.feed is not None:
            self.feed.close()

    def on_screen_suspend(self) -> None:
        # Dialogs on top keep the updates going (an approval given elsewhere closes its
        # modal); another full screen (the task list) stops them.
        if self._timer is not None and not isinstance(self.app.screen, ModalScreen):
            self._timer.pause()

    def on_screen_resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()
            self._tick()

    # -- live updates -------------------------------------------------------

    def _tick(self) -> None:
        assert self.feed is not None
        self._ticks += 1
        try:
            update = self.feed.poll()
        except Exception as exc:  # a locked or vanished database: say so, keep going
            if self._ticks % 20 == 1:
                self.notify(f"cannot read the task: {exc}", severity="error", timeout=3)
            return
        if update is not None:
            if update.events:
                self.query_one("#events", EventsPanel).add_events(update.events)
            if update.refreshed:
                self._apply_full()
            else:
                self.query_one("#steps", StepsTable).update_rows(update.changed_steps)
                self._apply_light(update.changed_steps)
        # the log: 10 times a second, 4 when it floods (nobody reads 10k lines/s)
        log = self.query_one("#log", StepLogView)
        log_every = max(1, round((0.25 if self._log_flooding else 0.1) / self.agency.poll_interval))
        if self._ticks % log_every == 0:
            # flooding, a read keeps a few screens of the newest lines: parsing more costs the
            # keys their time slice on a loaded machine, and nobody reads 10,000 lines a second
            added = log.poll(max_bytes=FLOOD_READ if self._log_flooding else None)
            self._log_flooding = added > max(50, log.size.height * 2)
            self.query_one("#log-status", LogStatus).show(log.following, log.note())
        # changed rows only: each redraws one line, so no need to batch
        self.query_one("#steps", StepsTable).flush()
        second = max(1, round(1.0 / self.agency.poll_interval))
        if self._ticks % second == 0:
            self._each_second()

    def _each_second(self) -> None:
        assert self.feed is not None
        self.query_one("#header", TaskHeader).refresh()
        self.query_one("#steps", StepsTable).tick()
        self._show_selected()
        self._check_approval()
        name = self._selected
        if name:
            self._show_metrics(name)

    def _show_metrics(self, name: str, force: bool = False) -> None:
        """Samples of the selected step: asked for every 2 s while it runs (in the background),
        shown every second."""
        assert self.feed is not None
        st = self.feed.steps.get(name) or {}
        metrics_row = self.query_one("#metrics", MetricsRow)
        active = st.get("status") in ("running", "paused")
        key = (name, st.get("status"), st.get("attempt"))
        every_2s = self._ticks % (2 * max(1, round(1.0 / self.agency.poll_interval))) == 0
        request = force or key != self._metrics_key or (active and every_2s)
        self._metrics_key = key
        if active or st.get("metrics"):
            metrics_row.show(self.feed.metrics(name, request=request), st.get("metrics"))
        elif metrics_row.display:
            metrics_row.show(None)

    def _apply_full(self) -> None:
        assert self.feed is not None
        table = self.query_one("#steps", StepsTable)
        table.load(self.feed.status, self.feed.steps, self.feed.fetched_at)
        table.flush()
        self.query_one("#header", TaskHeader).show(self.feed.status, self.feed.fetched_at)
        self._auto_pick()
        self._show_selected()
        self._check_approval()

    def _apply_light(self, changed: set[str]) -> None:
        assert self.feed is not None
        self.query_one("#header", TaskHeader).show(self.feed.status, self.feed.fetched_at)
        if changed:
            self._auto_pick()
        if self._selected in changed:
            self._show_selected()
        self._check_approval()

    def _auto_pick(self) -> None:
        """Until the user moves the cursor, keep it on the step where things happen."""
        assert self.feed is not None
        table = self.query_one("#steps", StepsTable)
        current = table.selected()
        steps = self.feed.steps
        if current is None or not self._auto_select:
            if current is not None and current != self._selected:
                self._select(current)
            return
        cur_status = steps.get(current, {}).get("status")
        if cur_status in ("running", "paused", "awaiting_approval"):
            target = current
        else:
            target = next((n for n, s in steps.items() if s.get("status") == "awaiting_approval"), None)
            target = target or next((n for n, s in reversed(steps.items())
                                     if s.get("status") in ("running", "paused")), None)
            target = target or self._failing_step()
            target = target or current
        if target != current:
            table.select(target)
        if target != self._selected:
            self._select(target)

    def _failing_step(self) -> str | None:
        """On a failed task, the step that failed it (its log says why), else the first failed one."""
        assert self.feed is not None
        steps = self.feed.steps
        named = self.feed.status.get("failed_step")
        if named in steps:
            return str(named)
        return next((n for n, s in steps.items() if s.get("status") == "failed"), None)

    def on_steps_table_step_highlighted(self, event: StepsTable.StepHighlighted) -> None:
        if event.by_user:
            self._auto_select = False
        if event.step != self._selected:
            self._select(event.step)

    def _select(self, name: str | None) -> None:
        assert self.feed is not None
        self._selected = name
        side = self.query_one("#side-pane")
        side.border_title = name or "no step"
        log = self.query_one("#log", StepLogView)
        log.show(name, self.agency.orch.step_log_path(self.feed.tid, name) if name else None)
        self._show_log_status(log.following)
        self._show_selected()
        if name:
            self._show_metrics(name, force=True)

    def _show_selected(self) -> None:
        assert self.feed is not None
        if not self._selected:
            self.query_one("#details", StepDetails).show(None, None, self.feed.status)
            return
        st = self.feed.steps.get(self._selected)
        live = None
        if st and st.get("status") == "running" and st.get("duration") is not None:
            live = st["duration"] + max(0.0, self.agency.clock() - self.feed.fetched_at)
        self.query_one("#details", StepDetails).show(st, live, self.feed.status)

    def _show_log_status(self, following: bool) -> None:
        log = self.query_one("#log", StepLogView)
        self.query_one("#log-status", LogStatus).show(following, log.note())

    def on_line_view_follow_changed(self, event: StepLogView.FollowChanged) -> None:
        if isinstance(event.view, StepLogView):
            self._show_log_status(event.following)

    def _restyle(self, _theme: Any = None) -> None:
        self.query_one("#steps", StepsTable).restyle()
        self.query_one("#header", TaskHeader).refresh()
        self.query_one("#log", StepLogView).restyle()
        self.query_one("#details", StepDetails)._sig = None
        self._show_selected()

    # -- approvals ----------------------------------------------------------

    def _pending_approval(self) -> dict[str, Any] | None:
        assert self.feed is not None
        s = self.feed.status
        if s.get("status") != "awaiting_approval":
            return None
        approval = s.get("approval")
        return approval if isinstance(approval, dict) else None

    def _check_approval(self) -> None:
        assert self.feed is not None
        self._plan_prompt.check(self.feed.status)
        approval = self._pending_approval()
        step = str(approval.get("step")) if approval else None
        modal = self._approval_modal
        if modal is not None and modal.step_name != step:
            self._approval_modal = None
            modal.close_from_outside()
        if step != self._answered_step:
            self._answered_step = None
        if step is None:
            self._declined_step = None
            return
        if (self._approval_modal is None and step not in (self._declined_step, self._answered_step)
                and self.app.screen is self):
            self._open_approval(approval or {})

    def _open_approval(self, approval: dict[str, Any]) -> None:
        assert self.feed is not None
        step = str(approval.get("step"))
        modal = ApprovalModal(self.feed.tid, approval, self.feed.steps.get(step), self._group_of(step))
        self._approval_modal = modal

        def done(result: str | None) -> None:
            if self._approval_modal is modal:
                self._approval_modal = None
            if modal.closed_from_outside:
                return
            if result is None:
                self._declined_step = step
                return
            self._answered_step = step
            if result == "approve":
                self.agency.call_orch("approve", self.task_id, step=step)
            elif result == "group":
                self.agency.call_orch("approve", self.task_id, step=step, group=True)
            elif result == "all":
                self.agency.call_orch("approve", self.task_id, step=step, all_remaining=True)
            elif result == "reject":
                self._ask_reject(step)

        self.app.push_screen(modal, done)

    def _group_of(self, step: str) -> list[str]:
        """The other steps of `step`'s parallel group that have not run yet (`--group` approves them)."""
        assert self.feed is not None
        for group in (self.feed.status.get("plan") or {}).get("parallel_groups") or []:
            if step in group:
                return [n for n in group if n != step
                        and (self.feed.steps.get(n) or {}).get("status") in ("pending", "awaiting_approval")]
        return []

    def _ask_reject(self, step: str | None) -> None:
        def done(reason: str | None) -> None:
            if reason is None:
                self._answered_step = None
                self._declined_step = step
                return
            self.agency.call_orch("reject", self.task_id, reason, step=step)

        label = f"step {step}" if step else "the waiting step"
        self.app.push_screen(ReasonModal(f"Reject {label} of task {self.task_id}?",
                                         confirm="Reject", default="rejected in the TUI"), done)

    # -- actions ------------------------------------------------------------

    def action_pause(self) -> None:
        self.agency.call_orch("pause", self.task_id)

    def action_resume(self) -> None:
        self.agency.call_orch("resume", self.task_id)

    def action_cancel_task(self) -> None:
        def done(reason: str | None) -> None:
            if reason is not None:
                self.notify(f"cancelling task {self.task_id}…", timeout=2)
                self.agency.call_orch("cancel", self.task_id, reason)

        self.app.push_screen(ReasonModal(f"Cancel task {self.task_id}?", confirm="Cancel task",
                                         default="cancelled in the TUI"), done)

    def action_approve(self) -> None:
        approval = self._pending_approval()
        step = str(approval["step"]) if approval and approval.get("step") else None
        if step:
            self._answered_step = step
        self.agency.call_orch("approve", self.task_id, step=step)

    def action_reject(self) -> None:
        approval = self._pending_approval()
        if approval is None:  # asking for a reason first would only lead to a refusal
            self.notify(f"nothing in task {self.task_id} awaits approval: there is nothing to reject",
                        timeout=3)
            return
        self._ask_reject(str(approval["step"]) if approval.get("step") else None)

    def action_modify(self) -> None:
        assert self.feed is not None
        s = self.feed.status

        def done(changes: dict[str, Any] | None) -> None:
            if changes is None:
                return
            self.agency.call_orch("modify", self.task_id, **changes)

        models = {st["name"]: st["model"]["selected"] for st in s.get("steps", []) if st.get("model")}
        self.app.push_screen(ModifyModal(self.task_id, s.get("priority", "normal"), s.get("deadline"), models),
                             done)

    def action_toggle_follow(self) -> None:
        # The key's answer is drawn at once, on its own line (not after the message round trip).
        self._show_log_status(self.query_one("#log", StepLogView).toggle_follow())

    def action_filter(self) -> None:
        self.query_one("#filter", FilterBar).open()

    def action_details(self) -> None:
        self.query_one("#details", StepDetails).toggle()

    def action_back(self) -> None:
        self.agency.show_overview()

    def on_filter_bar_filter_changed(self, event: FilterBar.FilterChanged) -> None:
        table = self.query_one("#steps", StepsTable)
        table.set_filter(event.text)
        self.query_one("#steps-pane").border_title = (
            f"Steps · filter: {event.text}" if event.text else "Steps")
        if event.done:
            table.focus()

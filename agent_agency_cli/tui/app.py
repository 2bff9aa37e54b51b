"""The Textual app: `create_app()` builds it (tests use it), `run_tui()` runs it (the CLI).

Screens: OverviewScreen (all tasks) is always at the bottom of the stack; a
TaskScreen for one task goes on top (Escape returns to the list). Every action
calls the same TaskOrchestrator methods as the CLI, in a worker thread with
its own connection (a cancel may wait for processes to end), and reports the
result — or the error the state causes — as a notification. Quitting only
closes the view: the task keeps running.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual.app import App, SystemCommand
from textual.screen import Screen

from agent_agency_cli.errors import AgencyError
from agent_agency_cli.orchestrator import TaskOrchestrator
from agent_agency_cli.tui import overview_screen, task_screen
from agent_agency_cli.tui.overview_screen import OverviewScreen
from agent_agency_cli.tui.task_screen import TaskScreen


class AgencyApp(App[None]):
    TITLE = "agent-agency-cli"
    CSS_PATH = ["app.tcss", "modals.tcss"]

    def __init__(
        self, orch: TaskOrchestrator, task_id: str | None = None, *,
        poll_interval: float = 0.05, clock: Callable[[], float] = time.time,
        theme: str | None = None,
    ):
        super().__init__()
        self.animation_level = "none"  # calm: nothing slides, fades or blinks
        # Our own connection: `data_version` only moves for commits made by *other*
        # connections, so reads must never share one with a writer (e.g. the caller's).
        self.orch = TaskOrchestrator(home=orch.home, config=orch.config_path, settings=orch.settings)
        self.initial_task = task_id
        self.poll_interval = poll_interval
        self.clock = clock
        if theme:
            self.theme = theme
        self.results: list[tuple[str, bool, str]] = []  # (method, ok, message): the tests read it

    def on_unmount(self) -> None:
        gc.unfreeze()
        self.orch.close()

    def on_mount(self) -> None:
        self.push_screen(OverviewScreen())
        if self.initial_task:
            self.push_screen(TaskScreen(self.initial_task))
        # What exists now (Textual, the modules, the first read) lives as long as the app:
        # keep it out of the cyclic collector's full passes, which would stall keys.
        self.call_after_refresh(gc.freeze)

    # -- navigation -----------------------------------------------------------

    def open_task(self, task_id: str) -> None:
        self.push_screen(TaskScreen(task_id))

    def show_overview(self) -> None:
        while len(self.screen_stack) > 1 and not isinstance(self.screen, OverviewScreen):
            self.pop_screen()

    # -- orchestrator calls ---------------------------------------------------

    def new_orch(self) -> TaskOrchestrator:
        return TaskOrchestrator(home=self.orch.home, config=self.orch.config_path,
                                settings=self.orch.settings)

    def call_orch(self, method: str | Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run `TaskOrchestrator.<method>(*args, **kwargs)` off the UI thread; notify the outcome.
        `method` may be a function taking the orchestrator first (e.g. a plan decision)."""
        name = method if isinstance(method, str) else method.__name__

        def work() -> None:

            ok, message = False, ""
            orch = self.new_orch()
            try:
                fn = getattr(orch, method) if isinstance(method, str) else partial(method, orch)
                message, ok = str(fn(*args, **kwargs)), True
            except AgencyError as exc:
                message = str(exc)
            except Exception as exc:  # never let an action crash the view
                message = f"{name} failed: {exc}"
            finally:
                orch.close()
            try:
                self.call_from_thread(self._action_done, name, ok, message)
            except RuntimeError:
                pass  # the app has closed meanwhile

        self.run_worker(work, thread=True, group="orch", name=name, exit_on_error=False)

    def _action_done(self, method: str, ok: bool, message: str) -> None:
        self.results.append((method, ok, message))
        if ok:
            self.notify(message, title=method, timeout=4)
        else:
            self.notify(message, title=f"{method} refused" if "is " in message else method,
                        severity="error", timeout=6)

    # -- command palette ------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        helps = (task_screen.ACTION_HELP if isinstance(screen, TaskScreen)
                 else overview_screen.ACTION_HELP if isinstance(screen, OverviewScreen) else {})
        keys = {b.action: b.key_display or b.key for b in getattr(screen, "BINDINGS", [])
                if hasattr(b, "action")}
        for action, help_text in helps.items():
            key = keys.get(action, "")
            title = help_text.split(" (")[0]
            yield SystemCommand(title, f"{help_text} — key {key}" if key else help_text,
                                partial(self._screen_action, screen, action))

    def _screen_action(self, screen: Screen, action: str) -> None:
        self.call_later(screen.run_action, action)


def create_app(
    orch: TaskOrchestrator | None = None, task_id: str | None = None, *,
    home: str | None = None, poll_interval: float = 0.05,
    clock: Callable[[], float] = time.time, theme: str | None = None,
) -> AgencyApp:
    """The app for one task (task_id) or the overview (None). Tests pass a frozen `clock`."""
    if orch is None:
        orch = TaskOrchestrator(home=home)
    if task_id is not None:
        task_id = orch.resolve(task_id)  # NotFoundError before any screen opens
    return AgencyApp(orch, task_id, poll_interval=poll_interval, clock=clock, theme=theme)


def run_tui(orch: TaskOrchestrator, task_id: str | None = None) -> None:
    """Run the TUI in this terminal until the user quits (the tasks keep running)."""

    # The screen is written by Textual's writer thread and keys are read by its input
    # thread; while the UI thread works (a log chunk, a repaint) they wait for the GIL.
    # 1 ms instead of 5 ms hands it over sooner: a key's answer reaches the terminal sooner.
    sys.setswitchinterval(0.001)
    create_app(orch, task_id).run()

"""ModifyModal: change a task's priority and/or deadline, and (for a task with model steps)
hot-swap the model of steps not yet started."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

PRIORITIES = ("low", "normal", "high", "urgent")


class ModifyModal(ModalScreen[dict[str, Any] | None]):
    """Returns the changes ({"priority": …, "deadline": …, "models": [NAME | STEP=NAME, …]},
    only what changed) or None."""

    BINDINGS = [Binding("escape", "back", "back")]

    def __init__(self, task_id: str, priority: str, deadline: str | None,
                 model_steps: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.task_id = task_id
        self.priority = priority
        self.deadline = deadline
        self.model_steps = model_steps or {}  # step -> its current model

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"Modify task {self.task_id}", id="dialog-title")
            yield Label("Priority", classes="dialog-hint")
            yield Select([(p, p) for p in PRIORITIES], value=self.priority, allow_blank=False,
                         id="priority")
            yield Label(f"Deadline (2h, 30m, 2026-12-31T18:00Z; empty keeps "
                        f"{self.deadline or 'none'})", classes="dialog-hint")
            field = Input(placeholder="unchanged", id="deadline")
            field.cursor_blink = False
            yield field
            if self.model_steps:
                now = ", ".join(f"{k}={v}" for k, v in list(self.model_steps.items())[:3])
                yield Label(f"Model: NAME for every step not yet started, or STEP=NAME, … (now {now})",
                            classes="dialog-hint")
                models = Input(placeholder="unchanged", id="models")
                models.cursor_blink = False
                yield models
            with Horizontal(classes="buttons"):
                yield Button("Apply", id="ok", variant="primary")
                yield Button("Back", id="back")

    def on_mount(self) -> None:
        self.query_one("#priority", Select).focus()

    def _changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        prio = self.query_one("#priority", Select).value
        if isinstance(prio, str) and prio != self.priority:
            out["priority"] = prio
        deadline = self.query_one("#deadline", Input).value.strip()
        if deadline:
            out["deadline"] = deadline
        if self.model_steps:
            models = [m.strip() for m in self.query_one("#models", Input).value.split(",") if m.strip()]
            if models:
                out["models"] = models
        return out

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(self._changes())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self._changes() if event.button.id == "ok" else None)

    def action_back(self) -> None:
        self.dismiss(None)

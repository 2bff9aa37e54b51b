"""ReasonModal: ask why (cancel, reject) before doing it; Escape backs out."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class ReasonModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "back", "back")]

    def __init__(self, title: str, *, confirm: str, default: str, danger: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.title_text = title
        self.confirm = confirm
        self.default = default
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Label("Reason (kept in the audit trail):", classes="dialog-hint")
            field = Input(placeholder=self.default, id="reason")
            field.cursor_blink = False
            yield field
            with Horizontal(classes="buttons"):
                yield Button(self.confirm, id="ok", variant="error" if self.danger else "primary")
                yield Button("Back", id="back")
            yield Label("Enter confirms · Esc goes back", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def _result(self) -> str:
        return self.query_one("#reason", Input).value.strip() or self.default

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(self._result())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self._result() if event.button.id == "ok" else None)

    def action_back(self) -> None:
        self.dismiss(None)

"""DecisionModal: what the approval and plan modals share — a row of decision buttons,
the key bindings that press them, "later" (Escape), and closing by itself when the
decision was made elsewhere (another terminal, `task approve`)."""

from __future__ import annotations

from typing import Any

from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button


class DecisionModal(ModalScreen[str | None]):
    """Dismissed with the pressed button's id (a decision) or None (decide later).

    Subclasses yield `decision_buttons(...)` in their compose; a button whose id is in
    `ACTIONS` runs that action instead of deciding (e.g. "details" toggles a section).
    """

    ACTIONS: dict[str, str] = {}

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.closed_from_outside = False

    @staticmethod
    def decision_buttons(*buttons: Button) -> Horizontal:
        return Horizontal(*buttons, classes="buttons")

    def on_mount(self) -> None:
        for button in self.query("#approve"):  # (it may already be closing)
            button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        what = str(event.button.id)
        if what in self.ACTIONS:
            self.run_action(self.ACTIONS[what])
        else:
            self.action_decide(what)

    def action_decide(self, what: str) -> None:
        self.dismiss(what)

    def action_later(self) -> None:
        self.dismiss(None)

    def close_from_outside(self) -> None:
        """Decided elsewhere: go away without deciding anything (once on top, if it is not)."""
        self.closed_from_outside = True
        if self.is_attached and self.app.screen is self:
            self.dismiss(None)
        elif self in self.app.screen_stack:  # under the palette, say: once it is on top
            self.app.call_later(self._dismiss_when_on_top)

    def _dismiss_when_on_top(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)
        elif self in self.app.screen_stack:
            self.set_timer(0.2, self._dismiss_when_on_top)

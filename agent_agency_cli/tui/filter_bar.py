"""FilterBar: a one-line filter input, hidden until `/` is pressed.

Typing filters live; Enter keeps the filter and returns to the table; Escape
clears it. Words are matched against names and statuses ("running", "failed",
"awaiting"); every word must match.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    BINDINGS = [Binding("escape", "clear_filter", "clear filter", show=False)]

    class FilterChanged(Message):
        def __init__(self, text: str, done: bool):
            super().__init__()
            self.text = text
            self.done = done

    def __init__(self, placeholder: str = "filter: words or a status (running, failed…)", **kwargs: Any):
        super().__init__(placeholder=placeholder, **kwargs)
        self.cursor_blink = False
        self.display = False

    def open(self) -> None:
        self.display = True
        self.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.FilterChanged(event.value, done=False))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.value:
            self.display = False
        self.post_message(self.FilterChanged(self.value, done=True))

    def action_clear_filter(self) -> None:
        self.value = ""
        self.display = False
        self.post_message(self.FilterChanged("", done=True))

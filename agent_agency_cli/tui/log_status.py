"""LogStatus: the one line under the step log — following or held (the `l` key), and
what the pane does not show (older lines dropped, bytes jumped over while the log
grew faster than anyone can read).

It is its own one-line widget so that a key's answer repaints one line at once,
not the whole side pane (a border subtitle is part of its container's render).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widget import Widget

FOLLOWING = "following · l holds"
HELD = "held · l follows"


class LogStatus(Widget):
    """`following · l holds` / `held · l follows`, then a dim note on the right (what the
    log pane left out), in the longest wording that fits."""

    DEFAULT_CSS = """
    LogStatus {
        height: 1;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.following = True
        self.notes: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return FOLLOWING if self.following else HELD

    def show(self, following: bool, notes: tuple[str, ...] | None = None) -> None:
        """Repaint (this one line only) when what it says changed. `notes`: the same note
        worded longest first; the first that fits is shown."""
        notes = self.notes if notes is None else notes
        if following == self.following and notes == self.notes:
            return
        self.following = following
        self.notes = notes
        self.refresh()

    def render(self) -> Text:
        width = self.size.width
        line = Text(self.text, style="bold" if not self.following else "dim", no_wrap=True, overflow="ellipsis")
        room = width - line.cell_len - 2
        note = next((n for n in self.notes if len(n) <= room), "")
        if note:
            line.append(" " * (width - line.cell_len - len(note)))
            line.append(note, style="dim")
        return line

"""EventsPanel: the task's audit trail — state changes and interventions (who, why).

Progress ticks are left out; everything else in the `events` table is one line,
newest at the bottom.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widgets import RichLog

from agent_agency_cli.tui.format import Palette, event_text


class EventsPanel(RichLog):
    def __init__(self, max_lines: int = 1000, **kwargs: Any):
        super().__init__(max_lines=max_lines, wrap=False, markup=False, highlight=False,
                         auto_scroll=True, **kwargs)
        self.count = 0
        self.last_text = ""

    def add_events(self, events: Iterable[dict[str, Any]], *, tail: int = 300) -> int:
        pal = Palette.of(self.app)
        texts = [t for t in (event_text(e, pal) for e in events) if t is not None]
        for t in texts[-tail:]:
            self.write(t, scroll_end=True)
        if texts:
            self.count += len(texts)
            self.last_text = texts[-1].plain
        return len(texts)

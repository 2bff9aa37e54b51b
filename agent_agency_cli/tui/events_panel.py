"""EventsPanel: the task's audit trail — state changes and interventions (who, why).

Progress ticks are left out; everything else in the `events` table is one line,
newest at the bottom. It stays at the bottom unless the user scrolls up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent_agency_cli.tui.format import Palette, event_text
from agent_agency_cli.tui.lines import LineView


class EventsPanel(LineView):
    def __init__(self, max_lines: int = 1000, **kwargs: Any):
        super().__init__(max_lines=max_lines, **kwargs)
        self.count = 0
        self.last_text = ""

    def add_events(self, events: Iterable[dict[str, Any]], *, tail: int = 300) -> int:
        pal = Palette.of(self.app)
        texts = [t for t in (event_text(e, pal) for e in events) if t is not None]
        if not texts:
            return 0
        self.append(texts[-tail:], scroll_end=self.following)
        self.count += len(texts)
        self.last_text = texts[-1].plain
        return len(texts)

"""MetricsRow: CPU and memory sparklines of the selected step (once metrics exist).

One line, drawn as text (`cpu ▁▂▅▇█▇▅ 37%  mem ▁▁▂▂▃ 212 MiB`) so an update
never needs a new layout. Hidden until the orchestrator has samples for the step
(`step_metrics(task_id, step)`, or a `metrics` summary on the step).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widget import Widget

from agent_agency_cli.tui.format import Palette, size_text

BLOCKS = "▁▂▃▄▅▆▇█"


def spark(values: list[float], width: int, top: float | None = None) -> str:
    """The last `width` values as block characters (scaled to `top` or their max)."""
    values = values[-width:]
    if not values:
        return ""
    hi = top if top else max(values)
    if hi <= 0:
        return BLOCKS[0] * len(values)
    return "".join(BLOCKS[min(7, int(v / hi * 7.999))] for v in values)


class MetricsRow(Widget):
    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.cpu: list[float] = []
        self.mem: list[float] = []
        self.summary: dict[str, Any] = {}

    def show(self, metrics: dict[str, Any] | None, summary: dict[str, Any] | None = None) -> None:
        samples = (metrics or {}).get("samples") or []
        self.summary = (metrics or {}).get("summary") or summary or {}
        self.cpu = [float(s.get("cpu_percent") or 0.0) for s in samples][-120:]
        self.mem = [float(s.get("rss_bytes") or 0.0) for s in samples][-120:]
        visible = bool(self.cpu or self.summary)
        if visible != self.display:
            self.display = visible
        self.refresh()

    def render(self) -> Text:
        pal = Palette.of(self.app)
        s = self.summary
        cpu_now = self.cpu[-1] if self.cpu else s.get("cpu_percent_max", s.get("cpu_percent"))
        mem_now = self.mem[-1] if self.mem else s.get("rss_bytes_max", s.get("rss_bytes"))
        cpu_v = "-" if cpu_now is None else f"{cpu_now:.0f}%"
        mem_v = size_text(mem_now)
        room = max(2, (self.size.width - len("cpu  ") - len(cpu_v) - len("   mem  ") - len(mem_v)) // 2)
        top = max(100.0, max(self.cpu)) if self.cpu else None
        return Text.assemble(
            ("cpu ", "dim"), (spark(self.cpu, room, top), pal.primary), f" {cpu_v}   ",
            ("mem ", "dim"), (spark(self.mem, room), pal.secondary), f" {mem_v}",
            no_wrap=True, overflow="ellipsis")

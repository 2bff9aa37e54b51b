"""MetricsRow: CPU and memory sparklines of the selected step (once metrics exist).

It stays hidden until the orchestrator has samples for the step
(`step_metrics(task_id, step)`, or a `metrics` summary on the step).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Sparkline

from agent_agency_cli.tui.format import size_text

SAMPLES = 60


class MetricsRow(Horizontal):
    """cpu ▁▂▅▇█▇▅ 37%   mem ▁▁▂▂▃ 212 MiB"""

    def compose(self) -> ComposeResult:
        yield Label("cpu", classes="metric-label")
        yield Sparkline([], id="cpu-spark", classes="spark")
        yield Label("", id="cpu-value", classes="metric-value")
        yield Label("mem", classes="metric-label")
        yield Sparkline([], id="mem-spark", classes="spark")
        yield Label("", id="mem-value", classes="metric-value")

    def show(self, metrics: dict[str, Any] | None, summary: dict[str, Any] | None = None) -> None:
        samples = (metrics or {}).get("samples") or []
        summary = (metrics or {}).get("summary") or summary or {}
        cpu = [float(s.get("cpu_percent") or 0.0) for s in samples][-SAMPLES:]
        mem = [float(s.get("rss_bytes") or 0.0) for s in samples][-SAMPLES:]
        if not cpu and not summary:
            self.display = False
            return
        self.display = True
        self.query_one("#cpu-spark", Sparkline).data = cpu or [0.0]
        self.query_one("#mem-spark", Sparkline).data = mem or [0.0]
        cpu_now = cpu[-1] if cpu else summary.get("cpu_percent_max", summary.get("cpu_percent"))
        mem_now = mem[-1] if mem else summary.get("rss_bytes_max", summary.get("rss_bytes"))
        self.query_one("#cpu-value", Label).update("-" if cpu_now is None else f"{cpu_now:.0f}%")
        self.query_one("#mem-value", Label).update(size_text(mem_now))

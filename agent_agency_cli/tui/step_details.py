"""StepDetails: the selected step's command, runtime facts, gates and outcome.

Compact by default (a few lines above the log); `d` expands it with the
description, needs, timeout, estimate and timestamps.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from agent_agency_cli.step_view import shown_reason
from agent_agency_cli.tui.format import Palette, duration, icon, local_hms, status_label


class StepDetails(Static):
    """Facts about one step; `show(step)` redraws only when something changed."""

    def __init__(self, **kwargs: Any):
        super().__init__("", **kwargs)
        self.step: dict[str, Any] | None = None
        self.expanded = False
        self._sig: Any = None
        self._lines = 0

    def toggle(self) -> bool:
        self.expanded = not self.expanded
        self._sig = None
        self.show(self.step)
        return self.expanded

    def show(self, step: dict[str, Any] | None, live_duration: float | None = None) -> None:
        sig = (None if step is None else tuple(sorted((k, repr(v)) for k, v in step.items())),
               None if live_duration is None else round(live_duration), self.expanded)
        if sig == self._sig:
            return
        self._sig = sig
        self.step = step
        text = self._render_step(step, live_duration)
        lines = text.plain.count("\n") + 1
        # a new layout only when the height changes: layouts redraw the whole screen
        self.update(text, layout=lines != self._lines)
        self._lines = lines

    def _render_step(self, st: dict[str, Any] | None, live: float | None) -> Text:
        if st is None:
            return Text("no step selected", style="dim")
        pal = Palette.of(self.app)
        lines: list[Text] = []
        cmd = st.get("command") or ""
        if isinstance(cmd, list):
            cmd = " ".join(str(c) for c in cmd)
        first = cmd.strip().splitlines()[0] if cmd.strip() else ""
        more = " …" if cmd.strip().count("\n") and not self.expanded else ""
        prefix = "$ " if st.get("kind") == "shell" else "ƒ "
        if self.expanded and cmd.strip():
            for i, ln in enumerate(cmd.strip().splitlines()):
                lines.append(Text.assemble((prefix if i == 0 else "  ", "dim"), (ln, "bold")))
        else:
            lines.append(Text.assemble((prefix, "dim"), (first + more, "bold")))
        status = st.get("status", "pending")
        facts = Text()
        facts.append(f"{icon(status)} {status_label(status)}", style=pal.status(status))
        worker = st.get("worker") or st.get("kind")
        if worker:
            facts.append(f" · {worker}", style="dim")
        if st.get("pid"):
            facts.append(f" · pid {st['pid']}", style="dim")
        if st.get("attempt"):
            facts.append(f" · try {st['attempt']}/{st.get('max_attempts') or 1}",
                         style=pal.warning if st["attempt"] > 1 else "dim")
        dur = live if live is not None else st.get("duration")
        if dur is not None:
            facts.append(f" · {duration(dur)}")
            if st.get("estimate"):
                facts.append(f" of ~{duration(st['estimate'])}", style="dim")
        elif st.get("estimate"):
            facts.append(f" · est {duration(st['estimate'])}", style="dim")
        if st.get("exit_code") is not None:
            facts.append(f" · exit {st['exit_code']}",
                         style=pal.error if st["exit_code"] != 0 else "dim")
        if st.get("overridden"):
            facts.append(" · overridden", style=pal.warning)
        lines.append(facts)
        if st.get("progress_message") and status in ("running", "paused"):
            lines.append(Text(f"» {st['progress_message']}", style="italic"))
        if shown_reason(st) and status != "completed":
            lines.append(Text(f"reason: {shown_reason(st)}",
                              style=pal.error if status == "failed" else pal.warning))
        model = st.get("model")
        if model:
            m = Text("model ", style="dim")
            m.append(str(model.get("used") or model.get("selected")), style="bold")
            if model.get("fallbacks"):
                m.append(f" (then {', '.join(model['fallbacks'])})", style="dim")
            if model.get("calls"):
                m.append(f" · {model['calls']} call{'s' if model['calls'] != 1 else ''}")
                if model.get("failed_calls"):
                    m.append(f" ({model['failed_calls']} failed)", style=pal.warning)
                m.append(f" · {model.get('tokens_in') or 0}/{model.get('tokens_out') or 0} tokens", style="dim")
                if model.get("cost"):
                    m.append(f" · ${model['cost']:.4f}", style="dim")
            lines.append(m)
            if self.expanded and model.get("reasoning"):
                lines.append(Text(f"why: {model['reasoning']}", style="italic"))
        gates = st.get("gates")
        if gates:
            g = Text("gates: ", style="dim")
            for gate in gates:
                gst = str(gate.get("status"))
                mark, style = {"passed": ("✓", pal.success), "failed": ("✗", pal.error)}.get(
                    gst, ("·", pal.warning))
                g.append(f"{gate.get('gate')} ")
                g.append(mark, style=style)
                score = gate.get("score")
                if isinstance(score, int | float):
                    g.append(f" {score:.2f}", style="dim")
                if gate.get("violations"):
                    n = gate["violations"] if isinstance(gate["violations"], int) else len(gate["violations"])
                    g.append(f" ({n} issue{'s' if n != 1 else ''})", style="dim")
                if not gate.get("required", True):
                    g.append(" opt", style="dim")
                g.append("  ")
            lines.append(g)
        if self.expanded:
            if st.get("description"):
                lines.append(Text(st["description"], style="italic"))
            if st.get("needs"):
                lines.append(Text.assemble(("needs: ", "dim"), ", ".join(st["needs"])))
            facts2 = []
            if st.get("timeout"):
                facts2.append(f"timeout {duration(st['timeout'])}")
            if st.get("started_at"):
                facts2.append(f"started {local_hms(st['started_at'])}")
            if st.get("finished_at"):
                facts2.append(f"finished {local_hms(st['finished_at'])}")
            if facts2:
                lines.append(Text(" · ".join(facts2), style="dim"))
        out = Text("\n").join(lines)
        out.no_wrap = True
        out.overflow = "ellipsis"
        return out

"""StepDetails: the selected step's command, runtime facts, gates and outcome, and the
task's gaps (why it is partially_completed) once it has them.

Compact by default (a few lines above the log); `d` expands it with the
description, needs, timeout, estimate and timestamps.
"""

from __future__ import annotations

import textwrap
from typing import Any

from rich.text import Text
from textual.widgets import Static

from agent_agency_cli.security.terminal import strip_controls
from agent_agency_cli.step_view import gaps_note, gate_failed, shown_reason, shown_status
from agent_agency_cli.tui.format import GATE_FAILED_ICON, Palette, duration, icon, local_hms, status_label


class StepDetails(Static):
    """Facts about one step; `show(step)` redraws only when something changed."""

    def __init__(self, **kwargs: Any):
        super().__init__("", **kwargs)
        self.step: dict[str, Any] | None = None
        self.task_view: dict[str, Any] = {}  # its status and completion (the gaps), for finished tasks
        self.expanded = False
        self._sig: Any = None
        self._lines = 0
        self._width = 0

    def on_resize(self) -> None:
        if self.size.width != self._width:  # the gate lines fit their evidence paths to the width
            self._sig = None
            self.show(self.step)

    def toggle(self) -> bool:
        self.expanded = not self.expanded
        self.set_class(self.expanded, "-expanded")  # a taller pane for the whole gaps and paths
        self._sig = None
        self.show(self.step)
        return self.expanded

    def show(self, step: dict[str, Any] | None, live_duration: float | None = None,
             task: dict[str, Any] | None = None) -> None:
        """`task`: the task's status and completion (its gaps show under the step)."""
        if task is not None:
            self.task_view = {"status": task.get("status"), "completion": task.get("completion")}
        sig = (None if step is None else tuple(sorted((k, repr(v)) for k, v in step.items())),
               None if live_duration is None else round(live_duration), self.expanded,
               repr(self.task_view), self.size.width)
        if sig == self._sig:
            return
        self._sig = sig
        self._width = self.size.width
        self.step = step
        text = self._render_step(step, live_duration)
        lines = text.plain.count("\n") + 1
        # a new layout only when the height changes: layouts redraw the whole screen
        self.update(text, layout=lines != self._lines)
        self._lines = lines

    def _gate_lines(self, gates: list[dict[str, Any]], pal: Palette) -> list[Text]:
        """One line per gate run: mark, name, status, score, violations, evidence (its tail when
        the pane is narrow: the file name is what tells them apart)."""
        out = []
        width = max(20, self.size.width - 2)
        for gate in gates:
            gst = str(gate.get("status"))
            mark, style = {"passed": ("✓", pal.success), "skipped": ("·", "dim"),
                           "failed": ("✗", pal.error)}.get(gst, ("!", pal.warning))
            score = gate.get("score")
            n = gate.get("violations") or 0
            n = n if isinstance(n, int) else len(n)
            advisory = not gate.get("required", True)
            line = Text.assemble(("gate ", "dim"), (mark, style), " ", str(gate.get("name") or gate.get("gate")))
            if width >= 56:  # narrow panes leave out the words the mark already says
                line.append(f" {gst}", style=style)
            if isinstance(score, int | float):
                line.append(f" {score:.2f}")
            line.append(f" · {n} violation{'s' if n != 1 else ''}", style=pal.error if n else "dim")
            if advisory:
                line.append(" · advisory" if width >= 56 else " · adv.", style="dim")
            evidence = ", ".join(str(e) for e in gate.get("evidence") or [])
            if evidence and self.expanded and len(evidence) > width - line.cell_len - 3:
                # `d`: the whole path, on lines of its own
                out += [line, Text("  evidence", style="dim")]
                out.extend(Text("  " + evidence[i:i + width - 2], style="dim")
                           for i in range(0, len(evidence), width - 2))
                continue
            if evidence:
                room = width - line.cell_len - 3
                if room < 24 and len(evidence) > room:  # its own line
                    out.append(line)
                    line = Text("  evidence", style="dim")
                    room = width - line.cell_len - 1
                else:
                    line.append(" ·", style="dim")
                if len(evidence) > room:
                    evidence = "…" + evidence[len(evidence) - max(8, room) + 1:]
                line.append(" " + evidence, style="dim")
            out.append(line)
        return out

    def _gaps_lines(self, pal: Palette) -> list[Text]:
        """The task's gaps against its requirements (why it is partially_completed)."""
        note = gaps_note(str(self.task_view.get("status")), self.task_view.get("completion"))
        if note is None:
            return []
        head, gaps = note
        gaps = [strip_controls(g) for g in gaps]  # a requirement's words must not drive the terminal
        out = [Text(head + ":", style=pal.warning)]
        shown = gaps if self.expanded or len(gaps) <= 3 else gaps[:2]
        if self.expanded:  # `d`: every gap in full, wrapped to the pane
            width = max(20, self.size.width - 2)
            for g in shown:
                out.extend(Text(ln) for ln in textwrap.wrap(g, width, initial_indent="  - ",
                                                             subsequent_indent="    "))
        else:
            out.extend(Text(f"  - {g}") for g in shown)
        if len(shown) < len(gaps):
            out.append(Text(f"  … {len(gaps) - len(shown)} more (d shows all)", style="dim"))
        return out

    def _render_step(self, st: dict[str, Any] | None, live: float | None) -> Text:
        pal = Palette.of(self.app)
        gaps = self._gaps_lines(pal)
        if st is None:
            out = Text("\n").join([Text("no step selected", style="dim"), *gaps])
            out.no_wrap = True
            return out
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
        if status == "completed" and gate_failed(st):  # never a plain ✓
            facts.append(f"{GATE_FAILED_ICON} {status_label(shown_status(st))}", style=pal.warning)
        else:
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
        lines.extend(self._gate_lines(st.get("gates") or [], pal))
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
        out = Text("\n").join([*lines, *gaps])
        out.no_wrap = True
        out.overflow = "ellipsis"
        return out

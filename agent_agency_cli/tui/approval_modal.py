"""ApprovalModal: strict mode — what the waiting step will do, and the decision.

Shows the command, workdir, resources, risk and gates of the step awaiting
approval, with Approve / Reject / Approve group (the other steps of its parallel
group start without asking, as `task approve ID --group`) / All remaining (approve every step still to come) /
Details. The task screen closes it by itself when the approval is given elsewhere
(another terminal, `task approve`).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from agent_agency_cli.tui.decision_modal import DecisionModal
from agent_agency_cli.tui.format import Palette, duration


def _fmt(value: Any) -> str:
    if value is None or value == "" or value == {} or value == []:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


class ApprovalModal(DecisionModal):
    """Dismissed with "approve", "reject", "group", "all" or None (decide later: `a` approves)."""

    BINDINGS = [
        Binding("a", "decide('approve')", "approve"),
        Binding("x", "decide('reject')", "reject"),
        Binding("g", "group", "approve the group"),
        Binding("A", "decide('all')", "approve all remaining"),
        Binding("d", "details", "details"),
        Binding("escape", "later", "later"),
    ]
    ACTIONS = {"details": "details"}

    def __init__(self, task_id: str, approval: dict[str, Any], step: dict[str, Any] | None = None,
                 group: list[str] | None = None, **kwargs: Any):
        """`group`: the other unfinished steps of the waiting step's parallel group."""
        super().__init__(**kwargs)
        self.task_id = task_id
        self.approval = approval
        self.step_info = step or {}
        self.step_name = str(approval.get("step") or self.step_info.get("name") or "?")
        self.group = list(group or [])

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog approval"):
            what = {"start": "to run", "gate_violation": "despite gate violations",
                    "manual_review": "(manual review)"}.get(str(self.approval.get("kind")), "")
            yield Label(f"? step {self.step_name} of task {self.task_id} awaits approval {what}".rstrip(),
                        id="dialog-title")
            with VerticalScroll(id="approval-body"):
                yield Static(self._summary(), id="approval-summary")
                details = Static(self._details(), id="approval-details")
                details.display = False
                yield details
            if self.group:
                yield Label(f"its parallel group: {', '.join(self.group)}", id="approval-group",
                            classes="dialog-hint")
            buttons = [Button("Approve", id="approve", variant="success"),
                       Button("Reject", id="reject", variant="error")]
            if self.group:
                buttons.append(Button(f"Approve group ({len(self.group) + 1})", id="group"))
            buttons += [Button("All remaining", id="all"), Button("Details", id="details")]
            yield self.decision_buttons(*buttons)
            yield Label("a approve · x reject" + (" · g group" if self.group else "")
                        + " · A all · d details · Esc later", classes="dialog-hint")

    def _summary(self) -> Text:
        a = self.approval
        pal = Palette.of(self.app)
        cmd = a.get("command") or self.step_info.get("command") or "-"
        if isinstance(cmd, list):
            cmd = " ".join(str(c) for c in cmd)
        t = Text()
        t.append("command   ", style="dim")
        t.append(str(cmd).strip() + "\n", style="bold")
        t.append("workdir   ", style="dim")
        t.append(_fmt(a.get("workdir")) + "\n")
        t.append("resources ", style="dim")
        t.append(_fmt(a.get("resources")) + "\n")
        risk = a.get("risk")
        t.append("risk      ", style="dim")
        risk_s = _fmt(risk if not isinstance(risk, dict) else risk.get("level") or risk.get("risk") or risk)
        t.append(risk_s + "\n", style=pal.error if str(risk_s).lower() in ("high", "critical")
                 else pal.warning if str(risk_s).lower() == "medium" else "")
        gates = a.get("gates") or []
        t.append("gates     ", style="dim")
        if not gates:
            t.append("-")
        names = []
        for g in gates:
            if isinstance(g, dict):
                names.append(str(g.get("gate") or g.get("name") or g) +
                             ("" if g.get("required", True) else " (optional)"))
            else:
                names.append(str(g))
        t.append(", ".join(names))
        if self.approval.get("gates_failed"):
            t.append("\nfailed    ", style="dim")
            t.append(str(self.approval["gates_failed"]), style=pal.error)
        for v in (self.approval.get("violations") or [])[:5]:
            t.append(f"\n  · {v}", style=pal.error)
        if self.approval.get("criteria"):
            t.append("\ncriteria  ", style="dim")
            t.append(_fmt(self.approval["criteria"]))
        return t

    def _details(self) -> Text:
        s = self.step_info
        t = Text()
        if s.get("description"):
            t.append(f"{s['description']}\n", style="italic")
        if s.get("needs"):
            t.append("needs     ", style="dim")
            t.append(", ".join(s["needs"]) + "\n")
        facts = []
        if s.get("kind"):
            facts.append(str(s["kind"]))
        if s.get("estimate"):
            facts.append(f"estimate {duration(s['estimate'])}")
        if s.get("timeout"):
            facts.append(f"timeout {duration(s['timeout'])}")
        if s.get("max_attempts"):
            facts.append(f"attempts {s['max_attempts']}")
        if facts:
            t.append("step      ", style="dim")
            t.append(" · ".join(facts) + "\n")
        extra = {k: v for k, v in self.approval.items()
                 if k not in ("step", "status", "command", "workdir", "resources", "risk", "gates", "violations",
                              "gates_failed", "criteria")}
        for k, v in extra.items():
            t.append(f"{k:<10}", style="dim")
            t.append(_fmt(v) + "\n")
        return t if t.plain else Text("no more details", style="dim")

    def action_group(self) -> None:
        if self.group:  # a step alone in its group: nothing more to approve than the step
            self.action_decide("group")
        else:
            self.notify(f"step {self.step_name} has no other steps in its parallel group", timeout=3)

    def action_details(self) -> None:
        d = self.query_one("#approval-details", Static)
        d.display = not d.display

"""PlanApprovalModal: strict mode — a planner's plan, approved or rejected as a whole.

A task planned from its description (no plan file) waits in awaiting_review until
its plan is approved (`task plan ID --approve`). The modal shows that plan — each
step's type, what runs it (command or model), its needs and gates — and what the
planner could not plan, with Approve / Reject (a reason) / Later.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from agent_agency_cli.tui.decision_modal import DecisionModal
from agent_agency_cli.tui.format import Palette

_GATE_NAME_KEYS = ("type", "gate", "name")


def _runs(step: dict[str, Any]) -> str:
    """What does the work: the model (and its prompt's start), the command, or the callable."""
    if step.get("model") is not None:
        prompt = " ".join(str(step.get("prompt") or "").split())
        return f"model {step['model']}" + (f": {prompt[:60]}…" if len(prompt) > 60 else f": {prompt}" if prompt
                                           else "")
    if step.get("run") is not None:
        run = step["run"]
        return "$ " + (" ".join(map(str, run)) if isinstance(run, list) else str(run).strip())
    if step.get("python") is not None:
        return f"python {step['python']}"
    if step.get("tool") is not None:
        return f"tool {step['tool']}"
    return "-"


def _gates(step: dict[str, Any]) -> list[str]:
    out = []
    for g in step.get("gates") or []:
        if isinstance(g, dict):
            out.append(next((str(g[k]) for k in _GATE_NAME_KEYS if g.get(k)), "gate"))
        else:
            out.append(str(g))
    return out


def plan_text(plan: dict[str, Any], palette: Palette | None = None) -> Text:
    """The plan as the modal shows it: one block per step, then what was not planned."""
    t = Text()
    steps = plan.get("plan", {}).get("steps") or []
    for i, s in enumerate(steps):
        t.append(f"{i + 1:>2}. ", style="dim")
        t.append(str(s.get("name")), style="bold")
        if s.get("type"):
            t.append(f"  [{s['type']}]", style="dim")
        t.append("\n    " + _runs(s) + "\n")
        if s.get("needs"):
            t.append("    needs ", style="dim")
            t.append(", ".join(map(str, s["needs"])) + "\n")
        gates = _gates(s)
        if gates:
            t.append("    gates ", style="dim")
            t.append(", ".join(gates) + "\n")
    for note in plan.get("notes") or []:
        t.append("not planned: ", style=palette.warning if palette else "bold")
        t.append(str(note) + "\n")
    return t


class PlanApprovalModal(DecisionModal):
    """Dismissed with "approve", "reject" or None (decide later)."""

    ACTIONS = {"later": "later"}

    BINDINGS = [
        Binding("a", "decide('approve')", "approve plan"),
        Binding("x", "decide('reject')", "reject plan"),
        Binding("escape", "later", "later"),
    ]

    def __init__(self, task_id: str, plan: dict[str, Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.task_id = task_id
        self.plan = plan

    def compose(self) -> ComposeResult:
        steps = self.plan.get("plan", {}).get("steps") or []
        by = f" ({self.plan['model']})" if self.plan.get("model") else ""
        with Vertical(id="dialog", classes="dialog approval"):
            yield Label(f"? the plan of task {self.task_id} awaits approval: {len(steps)} step(s) by the "
                        f"{self.plan.get('source')} planner{by}", id="dialog-title")
            with VerticalScroll(id="approval-body"):
                yield Static(plan_text(self.plan, Palette.of(self.app)), id="plan-summary")
            yield self.decision_buttons(Button("Approve plan", id="approve", variant="success"),
                                        Button("Reject plan", id="reject", variant="error"),
                                        Button("Later", id="later"))
            yield Label("a approve · x reject (asks why) · Esc later", classes="dialog-hint")


def plan_awaits_approval(status: dict[str, Any]) -> bool:
    """A strict task whose planner-made plan waits to be approved as a whole."""
    return (status.get("status") == "awaiting_review" and status.get("mode") == "strict"
            and (status.get("plan") or {}).get("source") not in (None, "file"))


def decide_plan(orch: Any, task_id: str, *, approve: bool, reason: str) -> str:
    """`task plan ID --approve/--reject` for the TUI (run off the UI thread by call_orch)."""
    from agent_agency_cli.planning import plan_review  # lazy: keeps start-up light

    return plan_review.decide(orch, task_id, approve=approve, reason=reason)


class PlanPrompt:
    """Opens the plan modal once per wait on a task screen, closes it when decided elsewhere."""

    def __init__(self, screen: Any):
        self.screen = screen
        self.modal: PlanApprovalModal | None = None
        self.declined = False  # "later": not asked again until the next wait

    def check(self, status: dict[str, Any]) -> None:
        """Called whenever the task's status changes."""
        if not plan_awaits_approval(status):
            self.declined = False
            if self.modal is not None:
                modal, self.modal = self.modal, None
                modal.close_from_outside()
            return
        if self.modal is None and not self.declined and self.screen.app.screen is self.screen:
            self.open(str(status["id"]))

    def open(self, task_id: str) -> None:
        from agent_agency_cli.planning import plan_review  # lazy: keeps start-up light
        from agent_agency_cli.tui.reason_modal import ReasonModal  # lazy: keeps start-up light

        app = self.screen.app
        modal = PlanApprovalModal(task_id, plan_review.task_plan(app.orch, task_id))
        self.modal = modal

        def rejected(reason: str | None) -> None:
            if reason is None:
                self.declined = True
                return
            app.call_orch(decide_plan, task_id, approve=False, reason=reason)

        def done(result: str | None) -> None:
            if self.modal is modal:
                self.modal = None
            if modal.closed_from_outside:
                return
            if result == "approve":
                app.call_orch(decide_plan, task_id, approve=True, reason="plan approved in the TUI")
            elif result == "reject":
                app.push_screen(ReasonModal(f"Reject the plan of task {task_id}?", confirm="Reject plan",
                                            default="plan rejected in the TUI"), rejected)
            else:
                self.declined = True

        app.push_screen(modal, done)

"""Approvals: a step waits for a person's decision (strict mode, a gate's decision, a
manual review). A mixin of TaskRunner; `ask` is what the lifecycle and the gates call,
`decide` what the approve/reject handlers (engine/control.py) call."""

from __future__ import annotations

from typing import Any

from agent_agency_cli.engine.attempt import masked_text, step_cwd
from agent_agency_cli.engine.step_state import StepState
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.executors.registry import executor_for
from agent_agency_cli.models import StepStatus, TaskStatus
from agent_agency_cli.store.steps import FRESH_ATTEMPT

S = StepStatus
T = TaskStatus


class Approvals:
    """Mixin: one step at a time awaits a decision (`awaiting`)."""

    awaiting: str | None

    def approval_details(self, st: StepState, kind: str, extra: dict[str, Any] | None = None
                         ) -> dict[str, Any]:
        """What a person sees before deciding (the approval_requested event's payload)."""
        spec = st.spec
        return {
            "kind": kind,
            "step": st.name,
            "command": masked_text(self, executor_for(spec).describe(spec)),
            "workdir": str(step_cwd(self, spec)),
            "resources": spec.get("resources") or {},
            "limits": self.limits,
            "risk": self.risk,
            "gates": [g.get("type") if isinstance(g, dict) else g for g in spec.get("gates", [])],
            "timeout": st.timeout,
            **(extra or {}),
        }

    async def ask(self, st: StepState, kind: str, extra: dict[str, Any] | None = None
                  ) -> tuple[bool, str] | None:
        """Wait for a person's decision on this step: (approved, reason), None if stopped."""
        while self.awaiting is not None and self.awaiting != st.name:
            await st.changed.wait()
            if self.stop_kind() is not None:
                return None
        details = self.approval_details(st, kind, extra)
        self.awaiting = st.name
        st.decision = None
        # Asked before an attempt: the row shows nothing of an earlier one (a retry's exit code).
        fresh = FRESH_ATTEMPT if kind == "start" else {}
        self._move(st, S.AWAITING_APPROVAL, EventKind.APPROVAL_REQUESTED, details, **fresh)
        return await self._await_decision(st, kind)

    async def ask_call(self, st: StepState, details: dict[str, Any]) -> tuple[bool, str] | None:
        """Strict mode: a person approves one tool call of a running agent step (the step
        stays running; the task waits in awaiting_approval). (approved, reason), or None
        once the task is stopped. Outside strict mode (or after --all-remaining): approved."""
        if self.mode != "strict" or self.approve_all:
            return True, "not in strict mode"
        while self.awaiting is not None and self.awaiting != st.name:
            await st.changed.wait()
            if self.stop_kind() is not None:
                return None
        self.awaiting = st.name
        st.decision = None
        payload = {**self.approval_details(st, "tool_call"), **details}
        self.store.add_event(self.task_id, EventKind.APPROVAL_REQUESTED, payload, step=st.name)
        return await self._await_decision(st, "tool_call")

    async def _await_decision(self, st: StepState, kind: str) -> Any:
        """The task waits in awaiting_approval until `st` is decided (its decision), or None
        once the task is stopped; either way the step no longer awaits."""
        if self.status is T.RUNNING:
            self.set_task(T.AWAITING_APPROVAL, EventKind.TASK_AWAITING_APPROVAL, {"step": st.name, "kind": kind})
            self.notify_hooks("awaiting_approval")
        try:
            while st.decision is None:
                if self.stop_kind() is not None:
                    return None
                await st.changed.wait()
            return st.decision
        finally:
            self.awaiting = None

    def preapprove(self, names: list[str]) -> None:
        """`task approve --group`: these steps (of the approved step's parallel group) start
        without asking, and may run at the same time. The step_approved event records the
        group, so a restarted engine reloads it (Store.group_approved_steps)."""
        self.preapproved.update(names)
        self.notify()

    def decide(self, name: str, approved: bool, text: str, all_remaining: bool) -> None:
        """A person's decision on the step awaiting one (see control.approve/reject)."""
        st = self.steps[name]
        if all_remaining:
            self.approve_all = True
        st.decision = (approved, text)
        if self.status is T.AWAITING_APPROVAL:
            self.set_task(T.RUNNING, EventKind.TASK_RUNNING, {})
        st.poke()
        self.notify()

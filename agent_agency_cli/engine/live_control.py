"""The live side of interventions: what a handler of engine/control.py does to a task an
engine runs (signal its step processes, wake its waiting steps). A mixin of TaskRunner,
which is the `ControlTarget` for engine-held tasks; the rules and the rows are in
engine/control.py, shared with tasks no engine holds."""

from __future__ import annotations

from typing import Any

import anyio

from agent_agency_cli.engine.control import StepInfo
from agent_agency_cli.errors import NotFoundError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import StepStatus, TaskStatus

S = StepStatus
T = TaskStatus


class LiveControl:
    """Mixin: ControlTarget for a running task (see engine/control.py)."""

    live = True

    def notify_hooks(self, kind: str) -> None:
        self.engine.notify_hooks(kind, self.task_id)

    def pause_steps(self, now: float) -> list[str]:
        """SIGSTOP every running step's process group; their rows become paused."""
        stopped = []
        for name in list(self.running):
            st = self.steps[name]
            if st.handle is not None:
                st.handle.pause()
            if st.status is S.RUNNING:
                self._move(st, S.PAUSED, EventKind.STEP_PAUSED, {}, paused_at=now)
                st.paused_at = now
                st.poke()
                stopped.append(name)
        return stopped

    def resume_steps(self, now: float) -> None:
        """SIGCONT the paused steps; their timeouts move on by the time they were paused."""
        for name in list(self.running):
            st = self.steps[name]
            if st.status is S.PAUSED:
                pause_len = now - (st.paused_at or now)
                st.paused_total += pause_len
                st.paused_at = None
                if st.deadline is not None:
                    self.arm_deadline(st, st.deadline + pause_len)
                self._move(st, S.RUNNING, EventKind.STEP_RESUMED, {"paused_for": pause_len},
                           paused_at=None, paused_total=st.paused_total)
                if st.handle is not None:
                    st.handle.resume()
                st.poke()

    def resumed_status(self) -> TaskStatus:
        return T.AWAITING_APPROVAL if self.awaiting else T.RUNNING

    def continue_after(self) -> None:
        """Look again for runnable steps, and let waiting steps see the new state."""
        self._rebuild_ready()
        self.wake_steps()
        self.notify()

    def stop_for_cancel(self, reason: str) -> None:
        """Stop every running step; the task ends (record_cancelled) once they have stopped."""
        self.cancel_reason = reason
        for name in list(self.running):
            self._request_stop(self.steps[name], "cancel")
        if self.status is T.AWAITING_APPROVAL:
            self.awaiting = None
        self.notify()

    def apply_changes(self, changes: dict[str, Any]) -> None:
        if "limits" in changes:
            self.limits = changes["limits"]
        if "deadline" in changes:
            self.deadline = changes["deadline"]
            if self._tg is not None and self.deadline:
                self._tg.start_soon(self._deadline_watch)
        if "mode" in changes:
            self.mode = changes["mode"]

    def swap_models(self, change: dict[str, Any]) -> str:
        from agent_agency_cli.engine.hot_swap import swap_models  # only model steps need it

        return swap_models(self.store, self.task_id, change, self.settings, self.steps, self.running)

    def step_info(self, name: str) -> StepInfo:
        st = self.steps.get(name)
        if st is None:
            raise NotFoundError(f"task {self.task_id} has no step named {name!r}")
        return StepInfo(st.status, st.attempt, st.max_attempts)

    def override_step(self, name: str, new: StepStatus, payload: dict[str, Any],
                      fields: dict[str, Any]) -> None:
        st = self.steps[name]
        self._move(st, new, EventKind.STEP_OVERRIDDEN, payload, **fields)
        st.overridden = bool(fields["overridden"])
        if "max_attempts" in fields:
            st.max_attempts = fields["max_attempts"]
        if self.failed_step == name:
            self.failed_step = None

    def has_interrupted_steps(self) -> bool:
        return any(s.status is S.INTERRUPTED for s in self.steps.values())

    async def suspend(self, timeout: float) -> None:
        """Engine shutdown: start nothing new, let running steps finish within `timeout`,
        interrupt the rest; the task goes back to the queue for the next engine."""
        self.suspending = True
        self.wake_steps()
        self.notify()
        with anyio.move_on_after(timeout):
            await self.done.wait()
            return
        for name in list(self.running):
            self._request_stop(self.steps[name], "suspend")
        await self.done.wait()

    def wake_steps(self) -> None:
        """Let steps waiting on a state change (pause, approval, retry) look again."""
        for name in list(self.running):
            self.steps[name].poke()

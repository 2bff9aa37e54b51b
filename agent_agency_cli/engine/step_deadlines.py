"""Step timeouts of one task: a heap of deadlines and one event-loop timer for the earliest.

A timer instead of a watchdog task: arming a deadline, which every attempt does, costs a
heap push (and a timer only when it is the new earliest), and a task whose steps all end
in time never wakes for it (issue 13: fewer tasks and wake-ups per task).
"""

from __future__ import annotations

import asyncio
import heapq
import time
from typing import TYPE_CHECKING

from agent_agency_cli.models import StepStatus

if TYPE_CHECKING:
    from agent_agency_cli.engine.runner import TaskRunner
    from agent_agency_cli.engine.step_state import StepState


class StepDeadlines:
    """When each running step of a runner times out; fires `runner.stop_step` at the time."""

    def __init__(self, runner: TaskRunner):
        self.runner = runner
        self._heap: list[tuple[float, int, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    def arm(self, st: StepState, deadline: float) -> None:
        """Register when a running step times out (wall-clock seconds; re-armed with the
        paused time added on resume). Older entries of the step become stale."""
        st.deadline = deadline
        heapq.heappush(self._heap, (deadline, id(st), st.name))
        if deadline < self._timer_at:
            self._set_timer()

    def _set_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = float("inf")
        if self._heap:
            self._timer_at = self._heap[0][0]
            delay = max(0.0, self._timer_at - time.time())
            self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = time.time()
        steps = self.runner.steps
        while self._heap and self._heap[0][0] <= now:
            deadline, _, name = heapq.heappop(self._heap)
            st = steps[name]
            if st.deadline != deadline or st.handle is None or st.stop_reason is not None:
                continue  # stale entry: finished, re-armed or already stopping
            if st.status is StepStatus.PAUSED:
                continue  # resume re-arms it with the paused time added
            st.stop_reason = "timeout"
            self.runner.stop_step(st)
        self._set_timer()

    def close(self) -> None:
        """The runner ended: no more timeouts."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = float("inf")
        self._heap.clear()

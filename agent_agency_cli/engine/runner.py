"""TaskRunner: executes one task's DAG of steps.

Scheduling is in memory (a count of unfinished dependencies per step, a ready
queue), so a step becoming ready costs no database round trip; every state
change itself is committed before anything acts on it. The runner is assembled
from one module per concept: the life of a step (lifecycle.py), approvals
(approvals.py), the live side of interventions (live_control.py; the handlers
are in control.py) and the group commit of step transitions (store/group_commit.py).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from agent_agency_cli.engine import alerts
from agent_agency_cli.engine.approvals import Approvals
from agent_agency_cli.engine.completion import complete_task
from agent_agency_cli.engine.control import record_cancelled
from agent_agency_cli.engine.keep_going import settle_kept_going
from agent_agency_cli.engine.lifecycle import StepLifecycle
from agent_agency_cli.engine.live_control import LiveControl
from agent_agency_cli.engine.step_deadlines import StepDeadlines
from agent_agency_cli.engine.step_state import StepState
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.executors.base import StepHandle
from agent_agency_cli.executors.registry import close_services
from agent_agency_cli.models import StepStatus, TaskStatus
from agent_agency_cli.rows import TaskRow
from agent_agency_cli.store.steps import FRESH_ATTEMPT

if TYPE_CHECKING:
    from agent_agency_cli.engine.engine import Engine

S = StepStatus
T = TaskStatus
PROGRESS_MIN_INTERVAL = 0.1

__all__ = ["StepState", "TaskRunner"]


class TaskRunner(StepLifecycle, Approvals, LiveControl):
    """Runs one claimed task to an end state (or until suspended)."""
    """Runs one claimed task to an end state (or until suspended)."""
    def __init__(self, engine: Engine, task: sqlite3.Row | TaskRow):
        task = task if isinstance(task, TaskRow) else TaskRow.from_row(task)
        self.engine = engine
        self.store = engine.store
        self.settings = engine.settings
        self.paths = engine.paths
        self.task_id: str = task.id
        self.status = task.status
        self.deadline: float | None = task.deadline
        self.started_at: float | None = task.started_at  # the claimed row's, read once
        self.limits: dict[str, Any] = task.limits
        self.mode: str = task.mode
        self.concurrency = task.concurrency or self.settings.task_execution.max_parallel_steps
        self.workdir = Path(task.workdir) if task.workdir else None
        self.plan_dir = Path(task.plan_dir) if task.plan_dir else None
        self.workspace = self.paths.workspace(self.task_id)
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.steps: dict[str, StepState] = {}
        self.ready: deque[str] = deque()
        self.running: set[str] = set()
        self.wake = anyio.Event()
        self.cancel_reason: str | None = None
        self.aborting = False
        self.suspending = False
        self.failed_step: str | None = None
        self.kept_going: list[tuple[str, str]] = []  # continue_on_failure steps that failed (keep_going.py)
        self.failure_reason: str | None = None
        self.failure_recoverable = True
        self.approve_all = task.approve_all
        # strict mode: approved with their group (approve --group); kept across engine restarts
        self.preapproved: set[str] = self.store.group_approved_steps(self.task_id)
        self.awaiting: str | None = None
        self.risk = task.risk
        self.requirements: list[str] = task.requirements
        self.complexity: str | None = task.complexity
        self.done = anyio.Event()
        self.lock = anyio.Lock()
        self._tg: TaskGroup | None = None
        self.idle_lanes: list[asyncio.Future[StepState]] = []  # see StepLifecycle._lane
        self.deadlines = StepDeadlines(self)  # step timeouts: one loop timer, no task
        self.commits = engine.commits  # batched changes, shared by the engine's runners (see _move)
        self._logs_dir: Path | None = None
        self.env = engine.env  # shared, never changed: a step's environment is a new dict
        self.executor_cache: dict[str, Any] = {}  # executors' per-task cache (resolved callables, ...)
        self.services: dict[str, Any] = {}  # executors' per-task sessions; closed when the runner ends
        self.masked: dict[str, str] = {}
        self.alerted: set[str] = set()
        self.failed_attempts = 0
        # Every log line passes the task's masking: known shapes and the task's own secrets.
        vault = self.store.vault
        self.secret_mask = vault.masker(self.task_id) if vault is not None else None
        self._load_steps()

    # -- loading --------------------------------------------------------------

    def _load_steps(self) -> None:
        for row in self.store.step_rows(self.task_id):
            self.steps[row.name] = StepState(
                name=row.name,
                idx=row.idx,
                status=row.status,
                kind=row.kind,
                spec=row.spec,
                needs=row.needs,
                timeout=row.timeout,
                idempotent=row.idempotent,
                attempt=row.attempt,
                max_attempts=row.max_attempts,
                overridden=row.overridden,
                signature=row.signature,
            )
        for st in self.steps.values():
            for dep in st.needs:
                self.steps[dep].dependents.append(st.name)
        self._recover_interrupted()
        self._rebuild_ready()

    def _recover_interrupted(self) -> None:
        """Steps cut off by a crash: re-run where allowed, else wait for a person."""
        policy = self.settings.recovery.rerun_interrupted
        blocked = []
        for st in self.steps.values():
            if st.status in (S.AWAITING_APPROVAL, S.WAITING_RESOURCES):
                # Its engine stopped while it waited: ask (or look for resources) again.
                self.store.set_step_status(self.task_id, st.name, st.status, S.PENDING,
                                           event=EventKind.STEP_REQUEUED, payload={"reason": "engine restarted"},
                                           **FRESH_ATTEMPT)
                st.status = S.PENDING
                continue
            if st.status is not S.INTERRUPTED:
                continue
            rerun = policy == "always" or (
                policy == "idempotent" and (st.idempotent or st.attempt < st.max_attempts)
            )
            if rerun:
                # The cut attempt is history (step_attempts); a re-run is one more try, never `2/1`.
                st.max_attempts = max(st.max_attempts, st.attempt + 1)
                self.store.set_step_status(
                    self.task_id, st.name, S.INTERRUPTED, S.PENDING, event=EventKind.STEP_REQUEUED,
                    payload={"reason": "interrupted; re-running (idempotent or retries left)"},
                    max_attempts=st.max_attempts, **FRESH_ATTEMPT,
                )
                st.status = S.PENDING
            else:
                blocked.append(st.name)
        if blocked:
            reason = (
                f"step{'s' if len(blocked) > 1 else ''} {', '.join(blocked)} "
                "interrupted by a crash and not idempotent; decide with "
                "`task override ID --step NAME --action retry|skip|succeed` or `task cancel`"
            )
            self.set_task(T.ESCALATED, EventKind.TASK_ESCALATED, {"reason": reason}, reason=reason)

    def _rebuild_ready(self) -> None:
        self.ready.clear()
        for st in sorted(self.steps.values(), key=lambda s: s.idx):
            st.waiting = sum(1 for d in st.needs if not self.steps[d].satisfied)
            # A step with a live lifecycle (e.g. waiting for its retry) is not ready again.
            if st.status is S.PENDING and st.waiting == 0 and st.name not in self.running:
                self.ready.append(st.name)

    # -- task state -----------------------------------------------------------

    def set_task(
        self, new: TaskStatus, event: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> float:
        now = self.store.set_task_status(
            self.task_id, self.status, new, event=event, payload=payload, **fields
        )
        self.status = new
        return now

    def _move(
        self, st: StepState, new: StepStatus, event: str, payload: dict[str, Any] | None = None,
        *, batch: bool = False, **fields: Any,
    ) -> float:
        """Move a step and commit it. With batch=True the change joins the open group-commit
        batch instead (committed by the flusher within a couple of loop turns): the caller
        must `await self.commits.durable()` before anything acts on it."""
        now = self.store.set_step_status(
            self.task_id, st.name, st.status, new, event=event, payload=payload, batch=batch,
            **fields
        )
        st.status = new
        if batch:
            self.commits.joined()
        return now

    def notify(self) -> None:
        self.wake.set()

    # -- main loop ------------------------------------------------------------

    @property
    def holding(self) -> bool:
        """No new step may start (paused, escalated, cancelling, failing or suspending)."""
        return (
            self.status in (T.PAUSED, T.ESCALATED)
            or self.cancel_reason is not None
            or self.failed_step is not None
            or self.suspending
        )

    async def run(self) -> None:
        """Run until the task ends, is cancelled, or the engine suspends it."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if self.deadline:
                    tg.start_soon(self._deadline_watch)
                duration_alert = alerts.watch_duration(self, self.started_at or time.time())
                tg.start_soon(self.commits.flusher)
                try:
                    await self._schedule_loop(tg)
                finally:
                    if duration_alert is not None:
                        duration_alert.cancel()
                    self.deadlines.close()
                tg.cancel_scope.cancel()
            self._finish()
            if self.status.is_terminal:
                from agent_agency_cli.engine import rollback  # checkpoints: only tasks that took one

                rollback.drop_all(self)
        finally:
            try:
                self.commits.close()
            finally:
                await close_services(self.services)
                self.done.set()

    async def _schedule_loop(self, tg: TaskGroup) -> None:
        while True:
            if self.status is T.RUNNING and not self.holding:
                # Strict mode goes step by step: one step at a time, each approved.
                limit = 1 if self.mode == "strict" and not self.approve_all else self.concurrency
                if self.ready and self.ready[0] in self.preapproved:
                    limit = self.concurrency  # approved with its group: runs beside the others
                while self.ready and len(self.running) < limit:
                    name = self.ready.popleft()
                    st = self.steps[name]
                    if st.status is not S.PENDING:
                        continue
                    self._begin(st, tg)
            if not self.running:
                if self.cancel_reason is not None or self.suspending or self.failed_step:
                    return
                if self.status is T.RUNNING and not self.ready:
                    stuck = [s.name for s in self.steps.values() if not s.status.is_finished]
                    if not stuck:
                        return
                    reason = (f"step{'s' if len(stuck) > 1 else ''} {', '.join(stuck[:5])} "
                              "cannot run (interrupted or blocked); use `task override` or "
                              "`task cancel`")
                    self.set_task(T.ESCALATED, EventKind.TASK_ESCALATED, {"reason": reason},
                                  reason=reason)
            await self.wake.wait()
            self.wake = anyio.Event()

    # -- timeouts and stopping running steps ------------------------------------

    def arm_deadline(self, st: StepState, deadline: float) -> None:
        """Register when a running step times out (pause time is added on resume)."""
        self.deadlines.arm(st, deadline)

    def stop_step(self, st: StepState) -> None:
        """Stop a running attempt (its stop_reason is set): SIGTERM, then SIGKILL after the
        grace period; a Python thread that ignores the flag is abandoned after it."""
        if st.handle is not None and self._tg is not None:
            self._tg.start_soon(self._stop_handle, st, st.handle)

    async def _stop_handle(self, st: StepState, handle: StepHandle) -> None:
        grace = self.settings.task_execution.cancel_grace_period
        await handle.stop(grace)
        if st.handle is handle:  # e.g. a Python thread or an SDK call that ignores the stop
            await anyio.sleep(grace)
            if st.handle is handle and st.scope is not None:
                st.scope.cancel()

    def _request_stop(self, st: StepState, reason: str) -> None:
        st.stop_reason = reason
        st.poke()
        self.stop_step(st)

    def _finish(self) -> None:
        """Commit the task's end state (or hand it back to the queue when suspended)."""
        pending = [s for s in self.steps.values() if not s.status.is_finished
                   and s.status is not S.INTERRUPTED and not s.status.is_active]
        if (self.cancel_reason is not None and not self.aborting) or self.suspending:
            self.store.commit_batch()  # the steps' batched changes are durable before the hooks
        if self.cancel_reason is not None and not self.aborting:
            self._mark(pending, S.CANCELLED, EventKind.STEP_CANCELLED, {"reason": self.cancel_reason})
            record_cancelled(self, self.cancel_reason)
            return
        if self.suspending:
            if self.status in (T.RUNNING, T.AWAITING_APPROVAL):
                self.set_task(T.QUEUED, EventKind.TASK_SUSPENDED,
                              {"reason": "engine stopped; the next engine continues it"},
                              owner=None)
            else:
                self.store.update_task_fields(self.task_id, event=EventKind.TASK_RELEASED,
                                              payload={"status": self.status.value}, owner=None)
            return
        # The last step's end (still in the group-commit batch), the final review and the
        # task's end state: one commit (issue 13). The hooks fire once it is durable.
        with self.store.unit():
            ended = self._end_rows(pending)
        if ended is not None:
            self.engine.task_finished(self.task_id, ended)

    def _end_rows(self, pending: list[StepState]) -> str | None:
        """The end of a task that was not stopped: failed, or completed (or partially) after
        its final review; the event kind for the hooks (None: it is not at its end)."""
        now = time.time()
        settle_kept_going(self)
        if self.failed_step is not None:
            self._skip_after_failure(pending)
            reason = self.cancel_reason if self.aborting else self.failure_reason
            completion = {"status": "failed", "reason": reason,
                          "recoverable": self.failure_recoverable, "failed_step": self.failed_step}
            self.set_task(T.FAILED, EventKind.TASK_FAILED,
                          {"reason": reason, "failed_step": self.failed_step,
                           "recoverable": self.failure_recoverable},
                           finished_at=now, reason=reason, failed_step=self.failed_step,
                           exit_code=T.FAILED.exit_code, owner=None,
                           completion=json.dumps(completion))
            return EventKind.TASK_FAILED
        if self.status is T.RUNNING:
            status, completion = complete_task(self)
            self.set_task(status, f"task_{status.value}",
                          {"gaps": completion.get("gaps", [])} if completion.get("gaps") else {},
                          finished_at=now, exit_code=status.exit_code, owner=None, reason=None,
                          completion=json.dumps(completion))
            return EventKind.TASK_COMPLETED
        return None

    def _skip_after_failure(self, pending: list[StepState]) -> None:
        failed = {s.name for s in self.steps.values() if s.status is S.FAILED}
        downstream: set[str] = set()
        stack = list(failed)
        while stack:
            for dep in self.steps[stack.pop()].dependents:
                if dep not in downstream:
                    downstream.add(dep)
                    stack.append(dep)
        blocked = [s for s in pending if s.name in downstream]
        other = [s for s in pending if s.name not in downstream]
        self._mark(blocked, S.SKIPPED, EventKind.STEP_SKIPPED,
                   {"reason": f"a dependency failed ({self.failed_step})"})
        self._mark(other, S.SKIPPED, EventKind.STEP_SKIPPED,
                   {"reason": f"task failed at {self.failed_step}"})

    def _mark(self, steps: list[StepState], new: StepStatus, event: str,
              payload: dict[str, Any]) -> None:
        if not steps:
            return
        self.store.set_steps_status(
            self.task_id, [s.name for s in steps], {s.name: s.status for s in steps}, new,
            event=event, payload=payload,
        )
        for s in steps:
            s.status = new

    def report_progress(self, st: StepState, fraction: float, message: str | None) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - st.last_progress < PROGRESS_MIN_INTERVAL:
            return
        st.last_progress = now
        if st.status.is_active:
            self.store.set_step_progress(self.task_id, st.name, fraction, message)

    async def _deadline_watch(self) -> None:
        assert self.deadline is not None
        delay = self.deadline - time.time()
        if delay > 0:
            await anyio.sleep(delay)
        self.store.add_event(self.task_id, EventKind.DEADLINE_PASSED, {"deadline": self.deadline})


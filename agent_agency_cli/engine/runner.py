"""TaskRunner: executes one task's DAG of steps.

Scheduling is in memory (a count of unfinished dependencies per step, a ready
queue), so a step becoming ready costs no database round trip; every state
change itself is committed before anything acts on it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from agent_agency_cli.engine.process import with_limits
from agent_agency_cli.errors import ConflictError, NotFoundError
from agent_agency_cli.executors.base import StepHandle, StepLog, StepOutcome
from agent_agency_cli.executors.python import PythonHandle, StepContext, thread_safe_reporter
from agent_agency_cli.executors.shell import ShellHandle, command_argv
from agent_agency_cli.models import StepStatus, TaskStatus

if TYPE_CHECKING:
    from agent_agency_cli.engine.scheduler import Engine

S = StepStatus
T = TaskStatus
PROGRESS_MIN_INTERVAL = 0.1


@dataclass
class StepState:
    """In-memory mirror of one step row, plus the scheduling bookkeeping."""

    name: str
    idx: int
    status: StepStatus
    kind: str
    spec: dict[str, Any]
    needs: list[str]
    timeout: float | None
    idempotent: bool
    attempt: int
    max_attempts: int
    overridden: bool
    dependents: list[str] = field(default_factory=list)
    waiting: int = 0
    handle: StepHandle | None = None
    started_at: float | None = None
    paused_at: float | None = None
    paused_total: float = 0.0
    changed: anyio.Event = field(default_factory=anyio.Event)
    stop_reason: str | None = None
    last_progress: float = 0.0

    @property
    def satisfied(self) -> bool:
        """Dependents may start: it completed, or a person skipped it on purpose."""
        return self.status is S.COMPLETED or (self.status is S.SKIPPED and self.overridden)

    def active_elapsed(self, now: float) -> float:
        if self.started_at is None:
            return 0.0
        paused = self.paused_total + ((now - self.paused_at) if self.paused_at else 0.0)
        return now - self.started_at - paused

    def poke(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()


class TaskRunner:
    """Runs one claimed task to an end state (or until suspended)."""

    def __init__(self, engine: Engine, task: sqlite3.Row):
        self.engine = engine
        self.store = engine.store
        self.settings = engine.settings
        self.paths = engine.paths
        self.task_id: str = task["id"]
        self.status = TaskStatus(task["status"])
        self.deadline: float | None = task["deadline"]
        self.limits: dict[str, Any] = json.loads(task["limits"] or "{}")
        self.mode: str = task["mode"]
        self.concurrency = task["concurrency"] or self.settings.task_execution.max_parallel_steps
        self.workdir = Path(task["workdir"]) if task["workdir"] else None
        self.plan_dir = Path(task["plan_dir"]) if task["plan_dir"] else None
        self.workspace = self.paths.workspace(self.task_id)
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.steps: dict[str, StepState] = {}
        self.ready: deque[str] = deque()
        self.running: set[str] = set()
        self.wake = anyio.Event()
        self.cancel_reason: str | None = None
        self.suspending = False
        self.failed_step: str | None = None
        self.failure_reason: str | None = None
        self.done = anyio.Event()
        self.lock = anyio.Lock()
        self._tg: TaskGroup | None = None
        self._load_steps()

    # -- loading --------------------------------------------------------------

    def _load_steps(self) -> None:
        for row in self.store.get_steps(self.task_id):
            self.steps[row["name"]] = StepState(
                name=row["name"],
                idx=row["idx"],
                status=StepStatus(row["status"]),
                kind=row["kind"],
                spec=json.loads(row["spec"]),
                needs=json.loads(row["needs"]),
                timeout=row["timeout"],
                idempotent=bool(row["idempotent"]),
                attempt=row["attempt"],
                max_attempts=row["max_attempts"],
                overridden=bool(row["overridden"]),
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
            if st.status is not S.INTERRUPTED:
                continue
            rerun = policy == "always" or (
                policy == "idempotent" and (st.idempotent or st.attempt < st.max_attempts)
            )
            if rerun:
                self.store.set_step_status(
                    self.task_id, st.name, S.INTERRUPTED, S.PENDING, event="step_requeued",
                    payload={"reason": "interrupted; re-running (idempotent or retries left)"},
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
            self._set_task(T.ESCALATED, "task_escalated", {"reason": reason}, reason=reason)

    def _rebuild_ready(self) -> None:
        self.ready.clear()
        for st in sorted(self.steps.values(), key=lambda s: s.idx):
            st.waiting = sum(1 for d in st.needs if not self.steps[d].satisfied)
            if st.status is S.PENDING and st.waiting == 0:
                self.ready.append(st.name)

    # -- task state -----------------------------------------------------------

    def _set_task(
        self, new: TaskStatus, event: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> float:
        now = self.store.set_task_status(
            self.task_id, self.status, new, event=event, payload=payload, **fields
        )
        self.status = new
        return now

    def _step(self, name: str) -> StepState:
        st = self.steps.get(name)
        if st is None:
            raise NotFoundError(f"task {self.task_id} has no step named {name!r}")
        return st

    def _move(
        self, st: StepState, new: StepStatus, event: str, payload: dict[str, Any] | None = None,
        **fields: Any,
    ) -> float:
        now = self.store.set_step_status(
            self.task_id, st.name, st.status, new, event=event, payload=payload, **fields
        )
        st.status = new
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
                await self._schedule_loop(tg)
                tg.cancel_scope.cancel()
            self._finish()
        finally:
            self.done.set()

    async def _schedule_loop(self, tg: TaskGroup) -> None:
        while True:
            if self.status is T.RUNNING and not self.holding:
                while self.ready and len(self.running) < self.concurrency:
                    name = self.ready.popleft()
                    st = self.steps[name]
                    if st.status is not S.PENDING:
                        continue
                    self._start_step(st, tg)
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
                    self._set_task(T.ESCALATED, "task_escalated", {"reason": reason},
                                   reason=reason)
            await self.wake.wait()
            self.wake = anyio.Event()

    def _start_step(self, st: StepState, tg: TaskGroup) -> None:
        attempt = st.attempt + 1
        now = self._move(
            st, S.RUNNING, "step_started",
            {"attempt": attempt, "max_attempts": st.max_attempts},
            attempt=attempt, started_at=time.time(), finished_at=None, exit_code=None,
            reason=None, pid=None, pgid=None, paused_at=None, paused_total=0.0, duration=None,
            progress=None, progress_message=None,
        )
        st.attempt = attempt
        st.started_at = now
        st.paused_at = None
        st.paused_total = 0.0
        st.stop_reason = None
        self.running.add(st.name)
        tg.start_soon(self._run_step, st)

    def _make_handle(self, st: StepState, log: StepLog) -> StepHandle:
        spec = st.spec
        cwd = self._step_cwd(spec)
        env = {**os.environ, **spec.get("env", {})}
        env.update(
            AGENT_AGENCY_TASK_ID=self.task_id,
            AGENT_AGENCY_STEP=st.name,
            AGENT_AGENCY_WORKSPACE=str(self.workspace),
            AGENT_AGENCY_ATTEMPT=str(st.attempt),
        )
        if st.kind == "python":
            report = thread_safe_reporter(lambda f, m: self._progress(st, f, m))
            ctx = StepContext(
                task_id=self.task_id, step=st.name, workspace=self.workspace, workdir=cwd,
                attempt=st.attempt, env=env, log=log, report_progress=report,
            )
            search = [p for p in (self.plan_dir, self.workdir, cwd) if p is not None]
            return PythonHandle(spec["python"], ctx, search, log)

        def on_spawn(pid: int) -> None:
            self.store.update_step_fields(self.task_id, st.name, pid=pid, pgid=pid)
            if st.status is S.PAUSED:  # paused while it was being spawned
                handle.pause()

        argv = command_argv(spec["run"])
        handle = ShellHandle(with_limits(argv, self.limits), cwd=str(cwd), env=env, log=log,
                             on_spawn=on_spawn, shown=argv)
        return handle

    def _step_cwd(self, spec: dict[str, Any]) -> Path:
        base = self.workdir or self.workspace
        if spec.get("workdir"):
            path = Path(os.path.expanduser(spec["workdir"]))
            return path if path.is_absolute() else base / path
        return base

    async def _run_step(self, st: StepState) -> None:
        log = StepLog(self.paths.step_log(self.task_id, st.name))
        if st.attempt > 1:
            log.line("sys", f"attempt {st.attempt} of {st.max_attempts}")
        try:
            handle = self._make_handle(st, log)
            st.handle = handle
            outcome = await self._supervise(st, handle)
        except Exception as exc:  # an engine-side failure must not kill the task group
            outcome = StepOutcome(ok=False, reason=f"engine error: {type(exc).__name__}: {exc}")
            log.line("sys", outcome.reason or "")
        finally:
            log.close()
        st.handle = None
        self._step_finished(st, outcome)

    async def _supervise(self, st: StepState, handle: StepHandle) -> StepOutcome:
        """Run the handle, enforcing a pause-aware timeout and honouring stop requests."""
        timeout = st.timeout or self.settings.task_execution.default_timeout
        result: list[StepOutcome] = []
        async with anyio.create_task_group() as tg:

            async def runner() -> None:
                result.append(await handle.run())
                st.poke()

            tg.start_soon(runner)
            grace = self.settings.task_execution.cancel_grace_period
            while not result:
                if st.stop_reason is None:
                    now = time.time()
                    remaining = timeout - st.active_elapsed(now)
                    if remaining <= 0 and st.status is not S.PAUSED:
                        st.stop_reason = "timeout"
                if st.stop_reason is not None:
                    await handle.stop(grace)
                    if st.kind == "python" and not result:
                        # A thread cannot be killed: give it the grace period to
                        # notice the flag, then stop waiting for it.
                        with anyio.move_on_after(grace):
                            while not result:
                                await st.changed.wait()
                        tg.cancel_scope.cancel()
                        break
                    while not result:
                        await st.changed.wait()
                    break
                wait_for = None if st.status is S.PAUSED else max(remaining, 0.001)
                with anyio.move_on_after(wait_for if wait_for is not None else float("inf")):
                    await st.changed.wait()
        if st.stop_reason is not None:
            reason = (
                f"timeout after {timeout:g}s" if st.stop_reason == "timeout" else st.stop_reason
            )
            base = result[0] if result else StepOutcome(ok=False)
            return StepOutcome(ok=False, exit_code=base.exit_code, reason=reason,
                               extra={"stopped": st.stop_reason})
        return result[0]

    def _step_finished(self, st: StepState, outcome: StepOutcome) -> None:
        self.running.discard(st.name)
        now = time.time()
        duration = st.active_elapsed(now)
        common = dict(finished_at=now, duration=duration, exit_code=outcome.exit_code,
                      paused_at=None)
        stop = outcome.extra.get("stopped")
        if stop == "cancel":
            self._move(st, S.CANCELLED, "step_cancelled",
                       {"reason": self.cancel_reason, "duration": duration},
                       reason=f"cancelled: {self.cancel_reason}", **common)
        elif stop == "suspend":
            self._move(st, S.INTERRUPTED, "step_interrupted",
                       {"reason": "engine stopping", "duration": duration},
                       reason="interrupted: engine stopped", **common)
        elif outcome.ok:
            payload: dict[str, Any] = {"duration": duration, "exit_code": outcome.exit_code}
            if outcome.result is not None:
                payload["result"] = outcome.result
            self._move(st, S.COMPLETED, "step_completed", payload, reason=None, progress=1.0,
                       **common)
            for dep in st.dependents:
                d = self.steps[dep]
                d.waiting -= 1
                if d.waiting == 0 and d.status is S.PENDING:
                    self.ready.append(dep)
        elif st.attempt < st.max_attempts and self.cancel_reason is None and not self.suspending:
            self._move(st, S.PENDING, "step_retry",
                       {"reason": outcome.reason, "attempt": st.attempt,
                        "max_attempts": st.max_attempts, "exit_code": outcome.exit_code},
                       reason=outcome.reason, **common)
            self.ready.append(st.name)
        else:
            self._move(st, S.FAILED, "step_failed",
                       {"reason": outcome.reason, "exit_code": outcome.exit_code,
                        "duration": duration, "attempt": st.attempt},
                       reason=outcome.reason, **common)
            if self.failed_step is None:
                self.failed_step = st.name
                self.failure_reason = f"step {st.name} failed: {outcome.reason}"
        self.notify()

    def _finish(self) -> None:
        """Commit the task's end state (or hand it back to the queue when suspended)."""
        pending = [s for s in self.steps.values() if not s.status.is_finished
                   and s.status is not S.INTERRUPTED and s.status is not S.RUNNING]
        if self.cancel_reason is not None:
            self._mark(pending, S.CANCELLED, "step_cancelled", {"reason": self.cancel_reason})
            self._set_task(T.CANCELLED, "task_cancelled", {"reason": self.cancel_reason},
                           finished_at=time.time(), reason=self.cancel_reason,
                           exit_code=T.CANCELLED.exit_code, owner=None)
            return
        if self.suspending:
            if self.status is T.RUNNING:
                self._set_task(T.QUEUED, "task_suspended",
                               {"reason": "engine stopped; the next engine continues it"},
                               owner=None)
            else:
                self.store.update_task_fields(self.task_id, event="task_released",
                                              payload={"status": self.status.value}, owner=None)
            return
        if self.failed_step is not None:
            self._skip_after_failure(pending)
            self._set_task(T.FAILED, "task_failed",
                           {"reason": self.failure_reason, "failed_step": self.failed_step},
                           finished_at=time.time(), reason=self.failure_reason,
                           failed_step=self.failed_step, exit_code=T.FAILED.exit_code, owner=None)
            return
        if self.status is T.RUNNING:
            self._set_task(T.COMPLETED, "task_completed", {}, finished_at=time.time(),
                           exit_code=T.COMPLETED.exit_code, owner=None, reason=None)

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
        self._mark(blocked, S.SKIPPED, "step_skipped",
                   {"reason": f"a dependency failed ({self.failed_step})"})
        self._mark(other, S.SKIPPED, "step_skipped",
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

    def _progress(self, st: StepState, fraction: float, message: str | None) -> None:
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
        self.store.add_event(self.task_id, "deadline_passed", {"deadline": self.deadline})

    # -- interventions (called by the engine, one at a time per task) ---------

    async def pause(self) -> str:
        if self.status is T.PAUSED:
            raise ConflictError(f"task {self.task_id} is already paused")
        if self.status is not T.RUNNING:
            raise ConflictError(f"task {self.task_id} is {self.status}; nothing to pause")
        now = time.time()
        stopped = []
        for name in list(self.running):
            st = self.steps[name]
            if st.handle is not None:
                st.handle.pause()
            if st.status is S.RUNNING:
                self._move(st, S.PAUSED, "step_paused", {}, paused_at=now)
                st.paused_at = now
                st.poke()
                stopped.append(name)
        self._set_task(T.PAUSED, "task_paused", {"steps": stopped}, paused_at=now)
        return f"paused task {self.task_id}" + (f" ({len(stopped)} running step(s) stopped)"
                                                 if stopped else "")

    async def resume(self) -> str:
        if self.status not in (T.PAUSED, T.ESCALATED):
            raise ConflictError(f"task {self.task_id} is {self.status}; nothing to resume")
        now = time.time()
        for name in list(self.running):
            st = self.steps[name]
            if st.status is S.PAUSED:
                pause_len = now - (st.paused_at or now)
                st.paused_total += pause_len
                st.paused_at = None
                self._move(st, S.RUNNING, "step_resumed", {"paused_for": pause_len},
                           paused_at=None, paused_total=st.paused_total)
                if st.handle is not None:
                    st.handle.resume()
                st.poke()
        task = self.store.get_task(self.task_id)
        extra: dict[str, Any] = {}
        if self.status is T.PAUSED and task["paused_at"]:
            extra = {"paused_total": task["paused_total"] + now - task["paused_at"]}
        self._set_task(T.RUNNING, "task_resumed", {}, paused_at=None, **extra)
        self._rebuild_ready()
        self.notify()
        return f"resumed task {self.task_id}"

    async def cancel(self, reason: str) -> str:
        if self.status.is_terminal:
            raise ConflictError(f"task {self.task_id} is {self.status}; nothing to cancel")
        self.cancel_reason = reason or "cancelled"
        for name in list(self.running):
            st = self.steps[name]
            st.stop_reason = "cancel"
            st.poke()
        self.notify()
        await self.done.wait()
        return f"cancelled task {self.task_id}"

    async def escalate(self, reason: str) -> str:
        if self.status not in (T.RUNNING, T.PAUSED, T.AWAITING_APPROVAL):
            raise ConflictError(f"task {self.task_id} is {self.status}; nothing to escalate")
        if self.status is T.PAUSED:
            await self.resume()
        self._set_task(T.ESCALATED, "task_escalated", {"reason": reason}, reason=reason)
        return f"escalated task {self.task_id}: waiting for a person (resume or cancel)"

    async def modify(self, changes: dict[str, Any]) -> str:
        task = self.store.get_task(self.task_id)
        old = {k: task[k] for k in changes if k in task.keys()}
        if "limits" in changes:
            self.limits = {**self.limits, **changes["limits"]}
            changes = {**changes, "limits": self.limits}
            old["limits"] = json.loads(task["limits"] or "{}")
        if "deadline" in changes:
            self.deadline = changes["deadline"]
            if self._tg is not None and self.deadline:
                self._tg.start_soon(self._deadline_watch)
        if "mode" in changes:
            self.mode = changes["mode"]
        self.store.update_task_fields(
            self.task_id, event="task_modified",
            payload={"old": old, "new": changes}, **changes,
        )
        return f"modified task {self.task_id}: " + ", ".join(sorted(changes))

    async def override(self, step: str, action: str, reason: str) -> str:
        st = self._step(step)
        payload = {"action": action, "reason": reason}
        if action == "retry":
            if st.status not in (S.FAILED, S.INTERRUPTED, S.CANCELLED, S.SKIPPED):
                raise ConflictError(f"step {step} is {st.status}; only failed, interrupted, "
                                    "cancelled or skipped steps can be retried")
            st.max_attempts = max(st.max_attempts, st.attempt + 1)
            self._move(st, S.PENDING, "step_overridden", payload,
                       max_attempts=st.max_attempts, overridden=0)
            st.overridden = False
        elif action in ("skip", "succeed"):
            if st.status.is_active or st.status is S.COMPLETED:
                raise ConflictError(f"step {step} is {st.status}; it cannot be overridden to "
                                    f"{action} (pause or cancel it first)")
            new = S.SKIPPED if action == "skip" else S.COMPLETED
            if st.status is new:
                raise ConflictError(f"step {step} is already {new}")
            self._move(st, new, "step_overridden", payload, overridden=1,
                       reason=f"override: {reason}", finished_at=time.time())
            st.overridden = True
        else:
            raise ConflictError(f"unknown override action {action!r}")
        if self.failed_step == step:
            self.failed_step = None
        self._rebuild_ready()
        msg = f"step {step}: {action} ({reason})"
        if self.status is T.ESCALATED and not any(
            s.status is S.INTERRUPTED for s in self.steps.values()
        ):
            await self.resume()
            msg += "; task resumed"
        self.notify()
        return msg

    async def suspend(self, timeout: float) -> None:
        """Engine shutdown: start nothing new, let running steps finish within `timeout`,
        interrupt the rest; the task goes back to the queue for the next engine."""
        self.suspending = True
        self.notify()
        with anyio.move_on_after(timeout):
            await self.done.wait()
            return
        for name in list(self.running):
            st = self.steps[name]
            st.stop_reason = "suspend"
            st.poke()
        await self.done.wait()

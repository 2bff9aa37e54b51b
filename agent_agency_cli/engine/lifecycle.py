"""One step, from its start to its end state: approval to start, waiting for a worker,
attempts, gates, retries with backoff, the fallback, checkpoint/rollback, and the row
changes each of these commits. A mixin of TaskRunner (it uses the runner's steps,
status, stop flags and group commit); nothing else calls these methods."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from agent_agency_cli.backoff import retry_delay
from agent_agency_cli.engine import alerts, gating, rollback
from agent_agency_cli.engine.attempt import MetricsRecorder, make_handle, samples_here, step_limits, supervise
from agent_agency_cli.engine.escapees import end_escaped_async
from agent_agency_cli.engine.keep_going import keep_going
from agent_agency_cli.engine.process import explain_limit_failure
from agent_agency_cli.engine.step_state import StepState
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.executors.base import StepLog, StepOutcome
from agent_agency_cli.executors.registry import executor_for
from agent_agency_cli.learning.records import finished_step_row
from agent_agency_cli.models import StepStatus, TaskStatus
from agent_agency_cli.rows import StepSpec

S = StepStatus
T = TaskStatus
# Seconds before a running shell step's pid is written on its own (a commit): a step that
# ends sooner has it written with its end. Long enough for a short command on a loaded
# machine; status shows the pid of anything a person could watch run.
PID_WRITE_DELAY = 0.25
log = logging.getLogger(__name__)


def _tail(path: Path, size: int = 8192) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


class StepLifecycle:
    """Mixin: the life of one step inside a TaskRunner."""

    def _begin(self, st: StepState, tg: TaskGroup) -> None:
        self.running.add(st.name)
        st.starting = True
        self.commits.starting += 1
        lanes = self.idle_lanes
        while lanes:
            waiter = lanes.pop()
            if not waiter.done():
                waiter.set_result(st)  # an idle lane runs it
                return
        tg.start_soon(self._lane, st)

    async def _lane(self, st: StepState) -> None:
        """Run step lifecycles one after another: a task per step running at once, not
        per step (spawning a task in the runner's group costs ~20 us a step); an idle lane
        waits in `idle_lanes` and ends with the runner's task group."""
        loop = asyncio.get_running_loop()
        while True:
            await self._lifecycle(st)
            waiter: asyncio.Future[StepState] = loop.create_future()
            self.idle_lanes.append(waiter)
            st = await waiter

    def _reached_attempt(self, st: StepState) -> None:
        if st.starting:
            st.starting = False
            self.commits.starting -= 1

    async def _lifecycle(self, st: StepState) -> None:
        try:
            await self._lifecycle_inner(st)
        except Exception as exc:  # an engine-side failure must not kill the task group
            log.exception("task %s step %s", self.task_id, st.name)
            reason = f"engine error: {type(exc).__name__}: {exc}"
            if not st.status.is_finished:
                self._fail_step(st, StepOutcome(ok=False, reason=reason))
        finally:
            self._reached_attempt(st)
            self.engine.release_worker(self.task_id, st.name)
            self.running.discard(st.name)
            self.notify()

    async def _lifecycle_inner(self, st: StepState) -> None:
        if self.mode == "strict" and not self.approve_all and st.name not in self.preapproved:
            decision = await self.ask(st, "start")
            if decision is None:
                return self._stopped_while_waiting(st)
            if not decision[0]:
                return self._fail_step(st, StepOutcome(ok=False, reason=f"rejected: {decision[1]}"),
                                       rejected=True)
        spec = st.spec
        fallback_used = False
        checkpoint: tuple[Path, float] | None = None  # taken once, before the first attempt
        while True:
            if not await self._wait_runnable(st):
                return self._stopped_while_waiting(st)
            worker = await self._acquire_worker(st)
            if worker is False:
                return self._stopped_while_waiting(st)
            breaker = self.engine.breaker_check(spec, st.kind)
            if checkpoint is None and st.spec.checkpoint:
                checkpoint = rollback.take(self, st)
            self._start_attempt(st, worker, fallback_used)
            self._reached_attempt(st)
            await self.commits.durable()  # its RUNNING row is committed before anything runs
            if breaker is not None and not breaker.allowed:
                outcome = StepOutcome(ok=False, reason=breaker.reason or "circuit open")
            else:
                outcome = await self._run_attempt(st, spec)
                self.engine.breaker_record(spec, st.kind, outcome, trial=bool(
                    breaker is not None and breaker.trial))
            st.ended_at = time.time()
            self.engine.release_worker(self.task_id, st.name)
            stop = outcome.extra.get("stopped")
            if stop in ("cancel", "suspend", "abort"):
                return self._stopped_attempt(st, outcome, stop)
            gated = outcome.ok
            if outcome.ok:
                gates_ok, gate_reason = await gating.run_step_gates(self, st)
                if gates_ok is None:
                    return self._stopped_attempt(st, outcome, self.stop_kind())
                if gates_ok:
                    return self._complete_step(st, outcome)
                outcome = StepOutcome(ok=False, exit_code=outcome.exit_code, reason=gate_reason)
            if self.stop_kind() is None and st.attempt < st.max_attempts:
                await self._retry_wait(st, outcome)
                continue
            if st.spec.fallback and not fallback_used and self.stop_kind() is None:
                fallback_used = True
                spec = st.spec.with_fallback()
                st.max_attempts += 1
                self._move(st, S.PENDING, EventKind.STEP_FALLBACK,
                           {"reason": outcome.reason, "fallback": st.spec.fallback},
                           reason=outcome.reason, max_attempts=st.max_attempts,
                           finished_at=time.time())
                continue
            if not gated and outcome.exit_code is not None and self.stop_kind() is None:
                # the command ran and failed: its gates still run (before any rollback) and
                # leave evidence of what it left behind; they cannot rescue the step
                await gating.run_step_gates(self, st, evidence_only=True)
            if checkpoint is not None and st.spec.on_failure == "rollback":
                rollback.roll_back(self, st, *checkpoint)
            return self._fail_step(st, outcome)

    def _gated(self, st: StepState) -> bool:
        """The step has gates (its own or the mode's defaults): learning records their score."""
        return bool(st.spec.gates or self.settings.gates.defaults.get(self.mode))  # type: ignore[call-overload]

    def stop_kind(self) -> str | None:
        if self.cancel_reason is not None:
            return "abort" if self.aborting else "cancel"
        if self.suspending:
            return "suspend"
        return None

    async def _wait_runnable(self, st: StepState) -> bool:
        """Wait while the task is paused or escalated; False once it is being stopped."""
        while True:
            if self.stop_kind() is not None:
                return False
            if self.status in (T.RUNNING, T.AWAITING_APPROVAL):
                return True
            await st.changed.wait()

    def _start_attempt(self, st: StepState, worker: str | None, fallback: bool) -> None:
        attempt = st.attempt + 1
        now = self._move(
            st, S.RUNNING, EventKind.STEP_STARTED,
            {"attempt": attempt, "max_attempts": st.max_attempts, "worker": worker,
             "fallback": fallback},
            attempt=attempt, started_at=time.time(), finished_at=None, exit_code=None,
            reason=None, pid=None, pgid=None, paused_at=None, paused_total=0.0, duration=None,
            progress=None, progress_message=None, worker=worker, next_retry_at=None, batch=True,
        )
        st.pending_pid = None
        st.attempt = attempt
        st.started_at = now
        st.paused_at = None
        st.paused_total = 0.0
        st.stop_reason = None
        st.worker = worker
        st.ended_at = None

    async def _run_attempt(self, st: StepState, spec: StepSpec) -> StepOutcome:
        if self._logs_dir is None:  # paths.step_log(task, step), its directory built once
            self._logs_dir = self.paths.step_log(self.task_id, st.name).parent
        cap = self.settings.task_execution.monitoring.step_log_max * 1048576
        log = StepLog(self._logs_dir / f"{st.name}.log", mask=self.secret_mask, max_bytes=cap)
        from agent_agency_cli.engine.storage_faults import watch_log  # lazy: keeps start-up light

        watch_log(self, st, log)  # a full disk pauses the task instead of failing it
        if st.attempt > 1:
            log.line("sys", f"attempt {st.attempt} of {st.max_attempts}")
        samples = executor_for(spec).samples_processes
        recorder = MetricsRecorder(self, st) if samples and samples_here(self, spec) else None

        pid_timer: list[asyncio.TimerHandle] = []

        def on_spawn(pid: int) -> None:
            # The pid is written lazily: with the attempt's end if it ends within
            # PID_WRITE_DELAY, else then. Recovery does not need it (it finds a dead
            # engine's step processes by their environment markers); status shows it.
            st.pending_pid = pid
            pid_timer.append(asyncio.get_running_loop().call_later(PID_WRITE_DELAY, self._write_pid, st,
                                                                   st.attempt, pid))
            if recorder is not None:
                recorder.started(pid)
            if st.status is S.PAUSED and st.handle is not None:  # paused while spawning
                st.handle.pause()

        outcome: StepOutcome | None = None
        try:
            handle = make_handle(self, st, spec, log, on_spawn)
            st.handle = handle
            timeout = spec.timeout or st.timeout or self.settings.task_execution.default_timeout
            outcome = await supervise(self, st, handle, timeout)
        except Exception as exc:
            outcome = StepOutcome(ok=False, reason=f"engine error: {type(exc).__name__}: {exc}")
            log.line("sys", outcome.reason or "")
        finally:
            for timer in pid_timer:  # ended: the pid goes with the attempt's end, no wake-up for it
                timer.cancel()
            if recorder is not None:
                recorder.stop()
            log.close(keep=outcome is None or not outcome.ok)
            st.handle = None
        if samples:  # it ran processes: end any that left the step's group
            await end_escaped_async(self, st)
        elif outcome.extra.pop("spawned", False):  # a Python step's worker saw it start processes
            await end_escaped_async(self, st, anywhere=True)
        summary = recorder.summary() if recorder is not None else outcome.extra.get("metrics")
        if summary:
            outcome.extra["metrics"] = summary
            limits = step_limits(self.limits, spec)
            alerts.check_step(self, st, summary, limits.get("max_memory_mb"), limits.get("max_cpu"))
        if not outcome.ok and not outcome.extra.get("stopped"):
            alerts.check_error_rate(self)
        if not outcome.ok and not outcome.extra.get("stopped") and samples:
            limits = step_limits(self.limits, spec)
            if limits:
                why = explain_limit_failure(limits, outcome.exit_code, _tail(log.path))
                if why:
                    outcome.reason = why
        return outcome

    def _write_pid(self, st: StepState, attempt: int, pid: int) -> None:
        if st.pending_pid != pid or st.attempt != attempt:
            return  # already written with the attempt's end (or a newer attempt runs)
        st.pending_pid = None
        try:
            self.store.update_step_fields(self.task_id, st.name, pid=pid, pgid=pid)
        except Exception:  # shown by status only; never fatal
            log.exception("task %s step %s: pid", self.task_id, st.name)

    def _attempt_fields(self, st: StepState, outcome: StepOutcome) -> dict[str, Any]:
        """Row fields for the end of an attempt, plus its history row (`also`)."""
        now = time.time()
        ended = st.ended_at or now  # gates and decisions after the process are not its time
        fields: dict[str, Any] = dict(finished_at=now, duration=st.active_elapsed(ended),
                                      exit_code=outcome.exit_code, paused_at=None)
        if st.pending_pid is not None:  # ended before its pid was written (see on_spawn)
            fields["pid"] = fields["pgid"] = st.pending_pid
            st.pending_pid = None
        if outcome.extra.get("metrics"):
            fields["metrics"] = json.dumps(outcome.extra["metrics"])
        fields["also"] = [self.store.attempt_row(self.task_id, st.name, st.attempt, outcome, st.started_at,
                                                 now, fields["duration"], st.worker),
                          *outcome.extra.get("also", ())]  # an executor's rows (e.g. model calls)
        return fields

    def _complete_step(self, st: StepState, outcome: StepOutcome) -> None:
        fields = self._attempt_fields(st, outcome)
        payload: dict[str, Any] = {"duration": fields["duration"], "exit_code": outcome.exit_code}
        if outcome.result is not None:
            payload["result"] = outcome.result
        if st.signature:
            fields["also"].append(self.store.duration_row(st.signature, fields["duration"]))
        fields["also"].append(finished_step_row(self.store.conn, self.task_id, st.name, st.attempt, st.kind,
                                                st.spec, outcome, fields["duration"], self._gated(st)))
        # Group commit: nothing acts on this change before it is committed. Dependents
        # start only after their own batched RUNNING change is durable, which commits this
        # one first (same transaction or an earlier one); task-level writes (set_task,
        # _finish) commit the batch first (write_tx).
        self._move(st, S.COMPLETED, EventKind.STEP_COMPLETED, payload, reason=None, progress=1.0,
                   batch=True, **fields)
        for dep in st.dependents:
            d = self.steps[dep]
            d.waiting -= 1
            if d.waiting == 0 and d.status is S.PENDING:
                self.ready.append(dep)
        if self.status is T.AWAITING_APPROVAL and self.awaiting is None:
            self.set_task(T.RUNNING, EventKind.TASK_RUNNING, {})

    def _fail_step(self, st: StepState, outcome: StepOutcome, *, rejected: bool = False) -> None:
        fields = self._attempt_fields(st, outcome) if st.status.is_active else {
            "finished_at": time.time()}
        if "also" in fields:  # it ran: learning counts the failure
            fields["also"].append(finished_step_row(self.store.conn, self.task_id, st.name, st.attempt,
                                                    st.kind, st.spec, outcome, fields["duration"], self._gated(st)))
        self._move(st, S.FAILED, EventKind.STEP_FAILED,
                   {"reason": outcome.reason, "exit_code": outcome.exit_code,
                    "duration": fields.get("duration"), "attempt": st.attempt,
                    "on_failure": st.spec.on_failure},
                   reason=outcome.reason, **fields)
        policy = "fail" if rejected else st.spec.on_failure
        if st.spec.continue_on_failure and not rejected and self.stop_kind() is None:
            keep_going(self, st, outcome)
            return
        if policy == "human" and self.stop_kind() is None:
            reason = (f"step {st.name} failed ({outcome.reason}); decide with `task override "
                      f"{self.task_id} --step {st.name} --action retry|skip|succeed` or cancel")
            if self.status in (T.RUNNING, T.AWAITING_APPROVAL):
                self.set_task(T.ESCALATED, EventKind.TASK_ESCALATED, {"reason": reason, "step": st.name},
                              reason=reason)
            return
        if self.failed_step is None:
            self.failed_step = st.name
            self.failure_reason = f"step {st.name} failed: {outcome.reason}"
            self.failure_recoverable = not rejected
        if policy == "abort" and self.cancel_reason is None:
            self.aborting = True
            self.cancel_reason = f"aborted: step {st.name} failed"
            for name in list(self.running):
                other = self.steps[name]
                if other is not st and other.status.is_active:
                    self._request_stop(other, "abort")

    def _stopped_attempt(self, st: StepState, outcome: StepOutcome, stop: str | None) -> None:
        fields = self._attempt_fields(st, outcome)
        if stop == "suspend":
            # A graceful stop is not a crash: the engine stopped the step itself, so it goes
            # back to pending (re-run from the start by the next engine) and nothing escalates.
            # The cut attempt stays in the history and does not use up one of the step's tries.
            st.max_attempts += 1
            ran = fields["duration"]
            fields.update(finished_at=None, exit_code=None, duration=None, pid=None, pgid=None,
                          paused_total=0.0, max_attempts=st.max_attempts)
            self._move(st, S.PENDING, EventKind.STEP_REQUEUED,
                       {"reason": "engine stopped; the step re-runs from the start on the next engine",
                        "duration": ran},
                       reason=None, **fields)
        else:
            self._move(st, S.CANCELLED, EventKind.STEP_CANCELLED,
                       {"reason": self.cancel_reason, "duration": fields["duration"]},
                       reason=f"cancelled: {self.cancel_reason}", **fields)

    def _stopped_while_waiting(self, st: StepState) -> None:
        """The step never started its attempt (waiting for approval, resources or a retry)."""
        if st.status in (S.AWAITING_APPROVAL, S.WAITING_RESOURCES):
            target = S.PENDING if self.suspending else S.CANCELLED
            self._move(st, target, EventKind.STEP_CANCELLED if target is S.CANCELLED else EventKind.STEP_REQUEUED,
                       {"reason": self.cancel_reason or "engine stopping"})

    async def _retry_wait(self, st: StepState, outcome: StepOutcome) -> None:
        retries = {**self.settings.recovery.retries.model_dump(), **st.spec.retries}
        delay = retry_delay(st.attempt, backoff=retries["backoff"], initial=retries["initial"],
                            max=retries["max"], jitter=retries["jitter"])
        fields = self._attempt_fields(st, outcome)
        # Waiting to try again: the row keeps why (reason) and when (next_retry_at); the failed
        # attempt's exit code, end and duration are history (step_attempts), not the step's now.
        fields.update(finished_at=None, exit_code=None, duration=None)
        next_at = time.time() + delay
        self._move(st, S.PENDING, EventKind.STEP_RETRY,
                   {"reason": outcome.reason, "attempt": st.attempt, "max_attempts": st.max_attempts,
                    "exit_code": outcome.exit_code, "delay": delay, "next_retry_at": next_at},
                   reason=outcome.reason, next_retry_at=next_at, **fields)
        while self.stop_kind() is None:
            left = next_at - time.time()
            if left <= 0:
                break
            with anyio.move_on_after(left):
                await st.changed.wait()

    async def _acquire_worker(self, st: StepState) -> str | bool | None:
        """A worker with the step's capabilities and free resources (None: no pool in use).

        Waits in `waiting_resources` while none is free; False if stopped meanwhile.
        """
        pool = self.engine.pool
        if pool is None or not self.engine.placed_on_pool(st.spec):
            return None
        needs = self.engine.step_needs(self, st)
        worker = pool.acquire(f"{self.task_id}/{st.name}", needs)
        if worker is not None:
            return worker.id
        reason = "waiting for a worker with free resources"
        self._move(st, S.WAITING_RESOURCES, EventKind.STEP_WAITING_RESOURCES, {"reason": reason},
                   reason=reason)
        while True:
            await self.engine.resources_changed()
            if self.stop_kind() is not None:
                return False
            worker = pool.acquire(f"{self.task_id}/{st.name}", needs)
            if worker is not None:
                return worker.id

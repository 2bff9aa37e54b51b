"""TaskRunner: executes one task's DAG of steps.

Scheduling is in memory (a count of unfinished dependencies per step, a ready
queue), so a step becoming ready costs no database round trip; every state
change itself is committed before anything acts on it.
"""

from __future__ import annotations

import asyncio
import heapq
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

from agent_agency_cli.errors import ConflictError, NotFoundError
from agent_agency_cli.executors.base import StepHandle, StepLog, StepOutcome
from agent_agency_cli.executors.registry import close_services, executor_for
from agent_agency_cli.learning.records import finished_step_row
from agent_agency_cli.models import StepStatus, TaskStatus, override_target

if TYPE_CHECKING:
    from agent_agency_cli.engine.scheduler import Engine

S = StepStatus
FLUSH_TURNS = 2  # loop turns a batch stays open for more changes to join it
PID_WRITE_DELAY = 0.02  # seconds before a running shell step's pid is written on its own
T = TaskStatus


def _tail(path: Path, size: int = 8192) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
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
    decision: tuple[bool, str] | None = None
    deadline: float | None = None
    scope: Any = None
    worker: str | None = None
    signature: str | None = None
    ended_at: float | None = None
    pending_pid: int | None = None  # spawned, pid not yet written (see TaskRunner._run_attempt)
    starting: bool = False  # begun, not yet at its first attempt (see TaskRunner._durable)

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
        self.aborting = False
        self.suspending = False
        self.failed_step: str | None = None
        self.failure_reason: str | None = None
        self.failure_recoverable = True
        self.approve_all = bool(task["approve_all"])
        self.awaiting: str | None = None
        self.risk = json.loads(task["risk"]) if task["risk"] else None
        self.requirements: list[str] = json.loads(task["requirements"] or "[]")
        self.complexity: str | None = task["complexity"]
        self.done = anyio.Event()
        self.lock = anyio.Lock()
        self._tg: TaskGroup | None = None
        self._deadlines: list[tuple[float, int, str]] = []
        self._watch_wake = anyio.Event()
        self._flush_wanted = anyio.Event()
        self._flushed = anyio.Event()
        self._starting = 0  # lifecycles begun that have not yet reached their first attempt
        self._logs_dir: Path | None = None
        self.env = dict(os.environ)  # copied once: every step's environment starts from it
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
                signature=row["signature"],
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
                                           event="step_requeued", payload={"reason": "engine restarted"})
                st.status = S.PENDING
                continue
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
            # A step with a live lifecycle (e.g. waiting for its retry) is not ready again.
            if st.status is S.PENDING and st.waiting == 0 and st.name not in self.running:
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
        *, batch: bool = False, **fields: Any,
    ) -> float:
        """Move a step and commit it. With batch=True the change joins the open group-commit
        batch instead (committed by the flusher within a couple of loop turns): the caller
        must `await self._durable()` before anything acts on it."""
        now = self.store.set_step_status(
            self.task_id, st.name, st.status, new, event=event, payload=payload, batch=batch,
            **fields
        )
        st.status = new
        if batch:
            self._flush_wanted.set()
        return now

    # -- group commit ---------------------------------------------------------
    # Step transitions that happen in the same few event-loop turns share one
    # transaction (Store.set_step_status(batch=True)). The flusher commits the batch a
    # couple of turns after the first change in it; whoever must not act before a change
    # is committed awaits _durable(). Any other write on the connection commits the
    # batch first (write_tx), so order is kept and nothing is ever committed out of turn.

    async def _durable(self) -> None:
        """Return once every batched change made so far is committed.

        When no other begun step is still on its way to its first attempt, nothing more
        is coming to join the batch this turn: commit it now instead of waiting for the
        flusher (a chain's COMPLETED and its dependent's RUNNING then share one commit)."""
        if not self.store.batch_open:
            return
        if self._starting == 0:
            done, self._flushed = self._flushed, anyio.Event()
            self.store.commit_batch()
            done.set()
            return
        self._flush_wanted.set()
        await self._flushed.wait()

    def _reached_attempt(self, st: StepState) -> None:
        if st.starting:
            st.starting = False
            self._starting -= 1

    async def _flusher(self) -> None:
        while True:
            await self._flush_wanted.wait()
            # Let the steps woken in this turn (and the lifecycles they start) add their
            # changes to the same transaction.
            for _ in range(FLUSH_TURNS):
                await anyio.sleep(0)
            self._flush_wanted = anyio.Event()
            done, self._flushed = self._flushed, anyio.Event()
            # A failure here ends the runner like a crash would (recovery takes over).
            self.store.commit_batch()
            done.set()

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
                from agent_agency_cli.engine.alerts import watch_duration

                started = self.store.get_task(self.task_id)["started_at"] or time.time()
                tg.start_soon(watch_duration, self, started)
                tg.start_soon(self._watchdog)
                tg.start_soon(self._flusher)
                await self._schedule_loop(tg)
                tg.cancel_scope.cancel()
            self._finish()
            if self.status.is_terminal:
                from agent_agency_cli.engine import rollback

                rollback.drop_all(self)
        finally:
            try:
                self.store.commit_batch()  # never leave a batch (and the write lock) open
            finally:
                await close_services(self.services)
                self.done.set()

    async def _schedule_loop(self, tg: TaskGroup) -> None:
        while True:
            if self.status is T.RUNNING and not self.holding:
                # Strict mode goes step by step: one step at a time, each approved.
                limit = 1 if self.mode == "strict" and not self.approve_all else self.concurrency
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
                    self._set_task(T.ESCALATED, "task_escalated", {"reason": reason},
                                   reason=reason)
            await self.wake.wait()
            self.wake = anyio.Event()

    # -- timeouts and stopping running steps ------------------------------------

    def arm_deadline(self, st: StepState, deadline: float) -> None:
        """Register when a running step times out (pause time is added on resume)."""
        st.deadline = deadline
        heapq.heappush(self._deadlines, (deadline, id(st), st.name))
        if self._deadlines[0][0] == deadline:
            self._watch_wake.set()

    async def _watchdog(self) -> None:
        """One task for the whole task: fires the earliest step timeout."""
        while True:
            now = time.time()
            while self._deadlines and self._deadlines[0][0] <= now:
                deadline, _, name = heapq.heappop(self._deadlines)
                st = self.steps[name]
                if st.deadline != deadline or st.handle is None or st.stop_reason is not None:
                    continue  # stale entry: finished, re-armed or already stopping
                if st.status is S.PAUSED:
                    continue  # resume re-arms it with the paused time added
                st.stop_reason = "timeout"
                self.stop_step(st)
            delay = self._deadlines[0][0] - now if self._deadlines else float("inf")
            with anyio.move_on_after(delay):
                await self._watch_wake.wait()
            self._watch_wake = anyio.Event()

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

    # -- one step, from start to its end state --------------------------------

    def _begin(self, st: StepState, tg: TaskGroup) -> None:
        self.running.add(st.name)
        st.starting = True
        self._starting += 1
        tg.start_soon(self._lifecycle, st)

    async def _lifecycle(self, st: StepState) -> None:
        try:
            await self._lifecycle_inner(st)
        except Exception as exc:  # an engine-side failure must not kill the task group
            import logging

            logging.getLogger(__name__).exception("task %s step %s", self.task_id, st.name)
            reason = f"engine error: {type(exc).__name__}: {exc}"
            if not st.status.is_finished:
                self._fail_step(st, StepOutcome(ok=False, reason=reason))
        finally:
            self._reached_attempt(st)
            self.engine.release_worker(self.task_id, st.name)
            self.running.discard(st.name)
            self.notify()

    async def _lifecycle_inner(self, st: StepState) -> None:
        if self.mode == "strict" and not self.approve_all:
            decision = await self._ask(st, "start")
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
            if checkpoint is None and st.spec.get("checkpoint"):
                from agent_agency_cli.engine import rollback

                checkpoint = rollback.take(self, st)
            self._start_attempt(st, worker, fallback_used)
            self._reached_attempt(st)
            await self._durable()  # its RUNNING row is committed before anything runs
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
            if outcome.ok:
                gates_ok, gate_reason = await self._run_gates(st)
                if gates_ok is None:
                    return self._stopped_attempt(st, outcome, self._stop_kind())
                if gates_ok:
                    return self._complete_step(st, outcome)
                outcome = StepOutcome(ok=False, exit_code=outcome.exit_code, reason=gate_reason)
            if self._stop_kind() is None and st.attempt < st.max_attempts:
                await self._retry_wait(st, outcome)
                continue
            if st.spec.get("fallback") and not fallback_used and self._stop_kind() is None:
                fallback_used = True
                spec = {**st.spec, **{k: v for k, v in st.spec["fallback"].items()
                                      if k in ("run", "python", "env", "timeout")}}
                if "python" in st.spec["fallback"]:
                    spec.pop("run", None)
                else:
                    spec.pop("python", None)
                st.max_attempts += 1
                self._move(st, S.PENDING, "step_fallback",
                           {"reason": outcome.reason, "fallback": st.spec["fallback"]},
                           reason=outcome.reason, max_attempts=st.max_attempts,
                           finished_at=time.time())
                continue
            if checkpoint is not None and st.spec.get("on_failure") == "rollback":
                from agent_agency_cli.engine import rollback

                rollback.roll_back(self, st, *checkpoint)
            return self._fail_step(st, outcome)

    def _stop_kind(self) -> str | None:
        if self.cancel_reason is not None:
            return "abort" if self.aborting else "cancel"
        if self.suspending:
            return "suspend"
        return None

    async def _wait_runnable(self, st: StepState) -> bool:
        """Wait while the task is paused or escalated; False once it is being stopped."""
        while True:
            if self._stop_kind() is not None:
                return False
            if self.status in (T.RUNNING, T.AWAITING_APPROVAL):
                return True
            await st.changed.wait()

    def _start_attempt(self, st: StepState, worker: str | None, fallback: bool) -> None:
        attempt = st.attempt + 1
        now = self._move(
            st, S.RUNNING, "step_started",
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

    async def _run_attempt(self, st: StepState, spec: dict[str, Any]) -> StepOutcome:
        from agent_agency_cli.engine.attempt import MetricsRecorder, make_handle, samples_here, supervise

        if self._logs_dir is None:  # paths.step_log(task, step), its directory built once
            self._logs_dir = self.paths.step_log(self.task_id, st.name).parent
        cap = self.settings.task_execution.monitoring.step_log_max * 1048576
        log = StepLog(self._logs_dir / f"{st.name}.log", mask=self.secret_mask, max_bytes=cap)
        if st.attempt > 1:
            log.line("sys", f"attempt {st.attempt} of {st.max_attempts}")
        samples = executor_for(spec).samples_processes
        recorder = MetricsRecorder(self, st) if samples and samples_here(self, spec) else None

        def on_spawn(pid: int) -> None:
            # The pid is written lazily: with the attempt's end if it ends within
            # PID_WRITE_DELAY, else then. Recovery does not need it (it finds a dead
            # engine's step processes by their environment markers); status shows it.
            st.pending_pid = pid
            asyncio.get_running_loop().call_later(PID_WRITE_DELAY, self._write_pid, st,
                                                  st.attempt, pid)
            if recorder is not None:
                recorder.started(pid)
            if st.status is S.PAUSED and st.handle is not None:  # paused while spawning
                st.handle.pause()

        outcome: StepOutcome | None = None
        try:
            handle = make_handle(self, st, spec, log, on_spawn)
            st.handle = handle
            timeout = spec.get("timeout") or st.timeout or self.settings.task_execution.default_timeout
            if recorder is not None:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(recorder.run)
                    outcome = await supervise(self, st, handle, timeout)
                    tg.cancel_scope.cancel()
            else:
                outcome = await supervise(self, st, handle, timeout)
        except Exception as exc:
            outcome = StepOutcome(ok=False, reason=f"engine error: {type(exc).__name__}: {exc}")
            log.line("sys", outcome.reason or "")
        finally:
            log.close(keep=outcome is None or not outcome.ok)
            st.handle = None
        if samples:  # it ran processes: end any that left the step's group
            from agent_agency_cli.engine.escapees import end_escaped_async

            await end_escaped_async(self, st)
        summary = recorder.summary() if recorder is not None else outcome.extra.get("metrics")
        if summary:
            outcome.extra["metrics"] = summary
            from agent_agency_cli.engine.alerts import check_step
            from agent_agency_cli.engine.attempt import step_limits

            limits = step_limits(self.limits, spec)
            check_step(self, st, summary, limits.get("max_memory_mb"), limits.get("max_cpu"))
        if not outcome.ok and not outcome.extra.get("stopped"):
            from agent_agency_cli.engine.alerts import check_error_rate

            check_error_rate(self)
        if not outcome.ok and not outcome.extra.get("stopped") and samples:
            from agent_agency_cli.engine.attempt import step_limits
            from agent_agency_cli.engine.process import explain_limit_failure

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
            import logging

            logging.getLogger(__name__).exception("task %s step %s: pid", self.task_id, st.name)

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
        # one first (same transaction or an earlier one); task-level writes (_set_task,
        # _finish) commit the batch first (write_tx).
        self._move(st, S.COMPLETED, "step_completed", payload, reason=None, progress=1.0,
                   batch=True, **fields)
        for dep in st.dependents:
            d = self.steps[dep]
            d.waiting -= 1
            if d.waiting == 0 and d.status is S.PENDING:
                self.ready.append(dep)
        if self.status is T.AWAITING_APPROVAL and self.awaiting is None:
            self._set_task(T.RUNNING, "task_running", {})

    def _fail_step(self, st: StepState, outcome: StepOutcome, *, rejected: bool = False) -> None:
        fields = self._attempt_fields(st, outcome) if st.status.is_active else {
            "finished_at": time.time()}
        if "also" in fields:  # it ran: learning counts the failure
            fields["also"].append(finished_step_row(self.store.conn, self.task_id, st.name, st.attempt,
                                                    st.kind, st.spec, outcome, fields["duration"], self._gated(st)))
        self._move(st, S.FAILED, "step_failed",
                   {"reason": outcome.reason, "exit_code": outcome.exit_code,
                    "duration": fields.get("duration"), "attempt": st.attempt,
                    "on_failure": st.spec.get("on_failure", "fail")},
                   reason=outcome.reason, **fields)
        policy = "fail" if rejected else st.spec.get("on_failure", "fail")
        if policy == "human" and self._stop_kind() is None:
            reason = (f"step {st.name} failed ({outcome.reason}); decide with `task override "
                      f"{self.task_id} --step {st.name} --action retry|skip|succeed` or cancel")
            if self.status in (T.RUNNING, T.AWAITING_APPROVAL):
                self._set_task(T.ESCALATED, "task_escalated", {"reason": reason, "step": st.name},
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

    def _gated(self, st: StepState) -> bool:
        """The step has gates (its own or the mode's defaults): learning records their score."""
        return bool(st.spec.get("gates") or self.settings.gates.defaults.get(self.mode))  # type: ignore[call-overload]

    def _stopped_attempt(self, st: StepState, outcome: StepOutcome, stop: str | None) -> None:
        fields = self._attempt_fields(st, outcome)
        if stop == "suspend":
            self._move(st, S.INTERRUPTED, "step_interrupted",
                       {"reason": "engine stopping", "duration": fields["duration"]},
                       reason="interrupted: engine stopped", **fields)
        else:
            self._move(st, S.CANCELLED, "step_cancelled",
                       {"reason": self.cancel_reason, "duration": fields["duration"]},
                       reason=f"cancelled: {self.cancel_reason}", **fields)

    def _stopped_while_waiting(self, st: StepState) -> None:
        """The step never started its attempt (waiting for approval, resources or a retry)."""
        if st.status in (S.AWAITING_APPROVAL, S.WAITING_RESOURCES):
            target = S.PENDING if self.suspending else S.CANCELLED
            self._move(st, target, "step_cancelled" if target is S.CANCELLED else "step_requeued",
                       {"reason": self.cancel_reason or "engine stopping"})

    async def _retry_wait(self, st: StepState, outcome: StepOutcome) -> None:
        from agent_agency_cli.backoff import retry_delay

        retries = {**self.settings.recovery.retries.model_dump(), **st.spec.get("retries", {})}
        delay = retry_delay(st.attempt, backoff=retries["backoff"], initial=retries["initial"],
                            max=retries["max"], jitter=retries["jitter"])
        fields = self._attempt_fields(st, outcome)
        next_at = time.time() + delay
        self._move(st, S.PENDING, "step_retry",
                   {"reason": outcome.reason, "attempt": st.attempt, "max_attempts": st.max_attempts,
                    "exit_code": outcome.exit_code, "delay": delay, "next_retry_at": next_at},
                   reason=outcome.reason, next_retry_at=next_at, **fields)
        while self._stop_kind() is None:
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
        self._move(st, S.WAITING_RESOURCES, "step_waiting_resources", {"reason": reason},
                   reason=reason)
        while True:
            await self.engine.resources_changed()
            if self._stop_kind() is not None:
                return False
            worker = pool.acquire(f"{self.task_id}/{st.name}", needs)
            if worker is not None:
                return worker.id

    # -- approvals (strict mode, gate decisions, manual review) ---------------

    def approval_details(self, st: StepState, kind: str, extra: dict[str, Any] | None = None
                         ) -> dict[str, Any]:
        from agent_agency_cli.engine.attempt import masked_text, step_cwd

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

    async def _ask(self, st: StepState, kind: str, extra: dict[str, Any] | None = None
                   ) -> tuple[bool, str] | None:
        """Wait for a person's decision on this step: (approved, reason), None if stopped."""
        while self.awaiting is not None and self.awaiting != st.name:
            await st.changed.wait()
            if self._stop_kind() is not None:
                return None
        details = self.approval_details(st, kind, extra)
        self.awaiting = st.name
        st.decision = None
        self._move(st, S.AWAITING_APPROVAL, "approval_requested", details)
        if self.status is T.RUNNING:
            self._set_task(T.AWAITING_APPROVAL, "task_awaiting_approval",
                           {"step": st.name, "kind": kind})
            self.engine.notify_hooks("awaiting_approval", self.task_id)
        try:
            while st.decision is None:
                if self._stop_kind() is not None:
                    return None
                await st.changed.wait()
            return st.decision
        finally:
            self.awaiting = None

    async def ask_call(self, st: StepState, details: dict[str, Any]) -> tuple[bool, str] | None:
        """Strict mode: a person approves one tool call of a running agent step (the step
        stays running; the task waits in awaiting_approval). (approved, reason), or None
        once the task is stopped. Outside strict mode (or after --all-remaining): approved."""
        if self.mode != "strict" or self.approve_all:
            return True, "not in strict mode"
        while self.awaiting is not None and self.awaiting != st.name:
            await st.changed.wait()
            if self._stop_kind() is not None:
                return None
        self.awaiting = st.name
        st.decision = None
        payload = {**self.approval_details(st, "tool_call"), **details}
        self.store.add_event(self.task_id, "approval_requested", payload, step=st.name)
        if self.status is T.RUNNING:
            self._set_task(T.AWAITING_APPROVAL, "task_awaiting_approval", {"step": st.name, "kind": "tool_call"})
            self.engine.notify_hooks("awaiting_approval", self.task_id)
        try:
            while st.decision is None:
                if self._stop_kind() is not None:
                    return None
                await st.changed.wait()
            return st.decision
        finally:
            self.awaiting = None

    def _resume_after_decision(self) -> None:
        if self.status is T.AWAITING_APPROVAL:
            self._set_task(T.RUNNING, "task_running", {})

    async def approve(self, step: str | None, all_remaining: bool, who: str) -> str:
        st = self._awaiting_step(step)
        if all_remaining:
            self.approve_all = True
            self.store.update_task_fields(self.task_id, event="approve_all",
                                          payload={"who": who}, approve_all=1)
        st.decision = (True, f"approved by {who}")
        self.store.add_event(self.task_id, "step_approved", {"who": who, "all_remaining": all_remaining},
                             step=st.name)
        self._resume_after_decision()
        st.poke()
        self.notify()
        return f"approved step {st.name}" + (" and all remaining steps" if all_remaining else "")

    async def reject(self, step: str | None, reason: str, who: str) -> str:
        st = self._awaiting_step(step)
        st.decision = (False, f"{reason} (by {who})")
        self.store.add_event(self.task_id, "step_rejected", {"who": who, "reason": reason},
                             step=st.name)
        self._resume_after_decision()
        st.poke()
        self.notify()
        return f"rejected step {st.name}: {reason}"

    def _awaiting_step(self, step: str | None) -> StepState:
        if self.awaiting is None:
            raise ConflictError(f"task {self.task_id} is {self.status}; no step awaits approval")
        if step is not None and step != self.awaiting:
            self._step(step)
            raise ConflictError(f"step {step} is not awaiting approval ({self.awaiting} is)")
        return self.steps[self.awaiting]

    # -- quality gates --------------------------------------------------------

    async def _run_gates(self, st: StepState) -> tuple[bool | None, str | None]:
        """Run the step's gates (plan + config defaults). (passed, reason); None if stopped."""
        from agent_agency_cli.engine.gating import run_step_gates

        return await run_step_gates(self, st)

    def _finish(self) -> None:
        """Commit the task's end state (or hand it back to the queue when suspended)."""
        self.store.commit_batch()  # the steps' batched changes are durable before any check
        pending = [s for s in self.steps.values() if not s.status.is_finished
                   and s.status is not S.INTERRUPTED and not s.status.is_active]
        now = time.time()
        if self.cancel_reason is not None and not self.aborting:
            self._mark(pending, S.CANCELLED, "step_cancelled", {"reason": self.cancel_reason})
            completion = {"status": "cancelled", "reason": self.cancel_reason}
            self._set_task(T.CANCELLED, "task_cancelled", {"reason": self.cancel_reason},
                           finished_at=now, reason=self.cancel_reason,
                           exit_code=T.CANCELLED.exit_code, owner=None,
                           completion=json.dumps(completion))
            self.engine.task_finished(self.task_id, "task_cancelled")
            return
        if self.suspending:
            if self.status in (T.RUNNING, T.AWAITING_APPROVAL):
                self._set_task(T.QUEUED, "task_suspended",
                               {"reason": "engine stopped; the next engine continues it"},
                               owner=None)
            else:
                self.store.update_task_fields(self.task_id, event="task_released",
                                              payload={"status": self.status.value}, owner=None)
            return
        if self.failed_step is not None:
            self._skip_after_failure(pending)
            reason = self.cancel_reason if self.aborting else self.failure_reason
            completion = {"status": "failed", "reason": reason,
                          "recoverable": self.failure_recoverable, "failed_step": self.failed_step}
            self._set_task(T.FAILED, "task_failed",
                           {"reason": reason, "failed_step": self.failed_step,
                            "recoverable": self.failure_recoverable},
                           finished_at=now, reason=reason, failed_step=self.failed_step,
                           exit_code=T.FAILED.exit_code, owner=None,
                           completion=json.dumps(completion))
            self.engine.task_finished(self.task_id, "task_failed")
            return
        if self.status is T.RUNNING:
            from agent_agency_cli.engine.completion import complete_task

            status, completion = complete_task(self)
            self._set_task(status, f"task_{status.value}",
                           {"gaps": completion.get("gaps", [])} if completion.get("gaps") else {},
                           finished_at=now, exit_code=status.exit_code, owner=None, reason=None,
                           completion=json.dumps(completion))
            self.engine.task_finished(self.task_id, "task_completed")

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
        if self.status not in (T.RUNNING, T.AWAITING_APPROVAL):
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
                if st.deadline is not None:
                    self.arm_deadline(st, st.deadline + pause_len)
                self._move(st, S.RUNNING, "step_resumed", {"paused_for": pause_len},
                           paused_at=None, paused_total=st.paused_total)
                if st.handle is not None:
                    st.handle.resume()
                st.poke()
        task = self.store.get_task(self.task_id)
        extra: dict[str, Any] = {}
        if self.status is T.PAUSED and task["paused_at"]:
            extra = {"paused_total": task["paused_total"] + now - task["paused_at"]}
        target = T.AWAITING_APPROVAL if self.awaiting else T.RUNNING
        self._set_task(target, "task_resumed", {}, paused_at=None, **extra)
        self._rebuild_ready()
        self.wake_steps()
        self.notify()
        return f"resumed task {self.task_id}"

    async def cancel(self, reason: str) -> str:
        if self.status.is_terminal:
            raise ConflictError(f"task {self.task_id} is {self.status}; nothing to cancel")
        self.cancel_reason = reason or "cancelled"
        for name in list(self.running):
            self._request_stop(self.steps[name], "cancel")
        if self.status is T.AWAITING_APPROVAL:
            self.awaiting = None
        self.notify()
        await self.done.wait()
        return f"cancelled task {self.task_id}"

    async def escalate(self, reason: str) -> str:
        if self.status not in (T.RUNNING, T.PAUSED, T.AWAITING_APPROVAL):
            raise ConflictError(f"task {self.task_id} is {self.status}; nothing to escalate")
        if self.status is T.PAUSED:
            await self.resume()
        self._set_task(T.ESCALATED, "task_escalated", {"reason": reason}, reason=reason)
        self.engine.notify_hooks("task_escalated", self.task_id)
        self.wake_steps()
        return f"escalated task {self.task_id}: waiting for a person (resume or cancel)"

    async def modify(self, changes: dict[str, Any]) -> str:
        if "models" in changes:  # hot-swap of not-yet-started model steps (engine/hot_swap.py)
            from agent_agency_cli.engine.hot_swap import swap_models

            changes = dict(changes)
            swapped = swap_models(self.store, self.task_id, changes.pop("models"), self.settings,
                                  self.steps, self.running)
            if not changes:
                return f"modified task {self.task_id}: {swapped}"
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
        new = override_target(st.status, action, step)
        if new is S.PENDING:
            st.max_attempts = max(st.max_attempts, st.attempt + 1)
            self._move(st, S.PENDING, "step_overridden", payload,
                       max_attempts=st.max_attempts, overridden=0)
            st.overridden = False
        else:
            self._move(st, new, "step_overridden", payload, overridden=1,
                       reason=f"override: {reason}", finished_at=time.time())
            st.overridden = True
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

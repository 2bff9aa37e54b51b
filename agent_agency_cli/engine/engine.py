"""Engine: claims queued tasks by priority, runs them with TaskRunner, and applies
interventions written by other processes. The daemon and `--foreground` share it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from agent_agency_cli.backends import remote_step_killer, runs_remotely, worker_pool
from agent_agency_cli.config import Settings
from agent_agency_cli.engine import control
from agent_agency_cli.engine.child_watcher import pidfd_children
from agent_agency_cli.engine.escapees import subreaper_while
from agent_agency_cli.engine.gc_tuning import engine_gc
from agent_agency_cli.engine.loop_faults import LoopFaults, hand_back_unstarted
from agent_agency_cli.engine.process import engine_identity
from agent_agency_cli.engine.recovery import recover_orphans
from agent_agency_cli.engine.runner import TaskRunner
from agent_agency_cli.errors import AgencyError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.executors.registry import executor_for
from agent_agency_cli.models import TaskStatus
from agent_agency_cli.paths import HomePaths
from agent_agency_cli.rows import StepSpec
from agent_agency_cli.security.vault import Vault
from agent_agency_cli.store import Store, connect
from agent_agency_cli.store.breakers import BreakerStore, breaker_name
from agent_agency_cli.store.group_commit import GroupCommit
from agent_agency_cli.workers import needs_for

log = logging.getLogger(__name__)
ORPHAN_SCAN_INTERVAL = 5.0
ARCHIVE_SWEEP_INTERVAL = 600.0


class Engine:
    """One engine per process; `serve()` for the daemon, `run_task()` for foreground."""

    def __init__(self, home: Path, settings: Settings):
        self.paths = HomePaths(home)
        self.settings = settings
        self.conn = connect(self.paths.db, patient=True)  # a locked database is waited out
        self.store = Store(self.conn, vault=Vault(self.paths))
        self.commits = GroupCommit(self.store)  # the group commit all runners share (one connection)
        self.faults = LoopFaults(self.conn)  # the loop's database errors: logged, backed off, never fatal
        self.unstarted: set[str] = set()  # claimed tasks whose runner could not start (handed back)
        self.identity = engine_identity()
        self.env = dict(os.environ)  # copied once: every step's environment starts from it
        self.runners: dict[str, TaskRunner] = {}
        self.stopping = False
        self._in_flight: set[int] = set()
        self._kick = anyio.Event()
        self._no_needs: Any = None  # see step_needs
        self._dirty = True
        self._resources = anyio.Event()
        self._resource_waiters = 0
        self._breaker_names: dict[str, str] = {}
        self._clean_breakers: set[str] = set()
        self._clean_version = -1
        self._clean_checked = 0.0
        self.pool = self._make_pool()
        self.remote_killer = remote_step_killer(settings)  # recovery on the Ray nodes (None: local)
        self.breakers = self._make_breakers()

    # -- workers, breakers, notifications (used by the runners) ----------------

    def _make_pool(self) -> Any:
        return worker_pool(self.settings, start=True)  # the configured workers, or the Ray cluster's nodes

    def _make_breakers(self) -> Any:
        if not self.settings.recovery.breakers.enabled:
            return None

        return BreakerStore(self.conn)

    def placed_on_pool(self, spec: StepSpec) -> bool:
        """Whether a step takes a worker from the pool: always, except a step that stays on
        the head while the pool is a Ray cluster's nodes (a Python step)."""
        return self.settings.execution.backend == "local" or runs_remotely(self.settings, spec)

    def step_needs(self, runner: TaskRunner, st: Any) -> Any:
        from agent_agency_cli.planning.plan_file import (
            StepResources,  # first use only: keeps the daemon's start (and crash recovery) fast
        )

        default = None
        if runner.complexity:
            default = self.settings.resource_allocation.get(runner.complexity)  # type: ignore[call-overload]
        spec = st.spec
        if not spec.requires and not spec.resources and default is None:
            # the common step declares nothing: the same needs every time (built once)
            if self._no_needs is None:
                self._no_needs = needs_for((), StepResources(), None)
            return self._no_needs
        return needs_for(spec.requires, StepResources.model_validate(spec.resources), default)

    def release_worker(self, task_id: str, step: str) -> None:
        if self.pool is not None:
            self.pool.release(f"{task_id}/{step}")
        if self._resource_waiters:  # a new event only when someone waits (twice per step)
            self._resources.set()
            self._resources = anyio.Event()

    async def resources_changed(self) -> None:
        self._resource_waiters += 1
        try:
            await self._resources.wait()
        finally:
            self._resource_waiters -= 1

    def _breaker_name(self, spec: StepSpec) -> str:
        kind, target = executor_for(spec).breaker_target(spec)
        key = kind + "\0" + (target if isinstance(target, str) else json.dumps(target))
        name = self._breaker_names.get(key)
        if name is None:
            name = self._breaker_names[key] = breaker_name(kind, target)
        return name

    def _breaker_known_clean(self, name: str) -> bool:
        """Closed with no failures, and nobody else has written to the database since we
        last looked: the breaker needs no round trip (the common case, many times a second)."""
        now = time.monotonic()
        if now - self._clean_checked < 0.05:
            return name in self._clean_breakers  # looked less than 50 ms ago
        self._clean_checked = now
        version = self.store.data_version()
        if version != self._clean_version:
            self._clean_breakers.clear()
            self._clean_version = version
        return name in self._clean_breakers

    def breaker_check(self, spec: StepSpec, kind: str) -> Any:
        if self.breakers is None:
            return None
        name = self._breaker_name(spec)
        if self._breaker_known_clean(name):
            return None
        return self.breakers.check(name, self.settings.recovery.breakers, time.time())

    def breaker_record(self, spec: StepSpec, kind: str, outcome: Any, trial: bool) -> None:
        if self.breakers is None:
            return
        name = self._breaker_name(spec)
        # Breakers guard dependencies (a command that cannot start, a worker, an endpoint,
        # timeouts): a step that ran and failed on its own proved its dependency works.
        ok = outcome.ok or bool(outcome.extra.get("own_failure"))
        if ok and not trial and self._breaker_known_clean(name):
            return  # a success on a clean breaker changes nothing
        self._clean_breakers.discard(name)
        if outcome.extra.get("stopped") in ("cancel", "suspend", "abort") or outcome.extra.get("target_ok"):
            # A stopped call (or the step's own fault, e.g. a model's 400 for a bad request)
            # says nothing about the target; free the trial slot.
            if trial:
                self.breakers.release_trial(name, time.time())
            return
        before = (self.breakers.get(name) or {}).get("state", "closed")
        after = self.breakers.record(name, self.settings.recovery.breakers, ok, time.time(),
                                     trial=trial)
        if after != before:
            log.info("circuit %s: %s -> %s", name, before, after)
        if ok and after == "closed":
            current = self.breakers.get(name)
            if current is None or not current.get("failures"):
                self._clean_checked = 0.0
                self._breaker_known_clean(name)  # refresh the version first
                self._clean_breakers.add(name)

    def notify_hooks(self, kind: str, task_id: str) -> None:
        hooks = self.settings.notifications.hooks
        if not hooks:
            return

        from agent_agency_cli.notify import (  # first use only: keeps the daemon's start (and crash recovery) fast
            deliver_async,
            task_payload,
        )

        # hooks get what the database holds: no secret
        payload = self.store.redact(task_id, task_payload(self.store.get_task(task_id)))
        deliver_async(list(hooks), kind, payload, log=lambda msg: log.warning("%s", msg))

    def task_finished(self, task_id: str, kind: str) -> None:
        """A runner ended its task (completed, partially_completed or failed): hooks fire."""
        if kind == EventKind.TASK_COMPLETED:
            self.store.vault.discard(task_id)  # nothing will run again: its secrets go
        self.notify_hooks(kind, task_id)

    def kick(self) -> None:
        self._dirty = True
        self._kick.set()

    # -- entry points ---------------------------------------------------------

    async def serve(self) -> None:
        """Daemon: recover orphans, then claim and run tasks until SIGTERM/SIGINT."""
        _, recovered = self.faults.attempt("crash recovery", recover_orphans, self.store, self.identity,
                                           self.remote_killer)
        if recovered:
            log.info("recovered %d task(s) from a previous engine", len(recovered))
        with engine_gc():
            async with pidfd_children(), anyio.create_task_group() as tg:
                tg.start_soon(self._watch_signals, tg)
                await self._control_loop(tg, claim=True)
                await self._suspend_all()
                tg.cancel_scope.cancel()

    async def run_task(self, task_id: str) -> TaskStatus:
        """Foreground: run one queued task in this process; returns its final status."""

        row = self.store.claim_task(task_id, self.identity)
        with subreaper_while(), engine_gc():  # processes leaving a step's group come back to us
            async with pidfd_children(), anyio.create_task_group() as tg:
                self._start_runner(tg, row)
                tg.start_soon(self._cancel_on_signal, task_id)
                await self._control_loop(tg, claim=False)
                tg.cancel_scope.cancel()
        return TaskStatus(self.store.get_task(task_id)["status"])

    async def _cancel_on_signal(self, task_id: str) -> None:
        """Foreground: Ctrl-C or SIGTERM cancels the task (no daemon would continue it)."""
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as sigs:
            async for signum in sigs:
                runner = self.runners.get(task_id)
                if runner is not None and runner.cancel_reason is None:
                    reason = f"interrupted ({signal.Signals(signum).name})"
                    async with runner.lock:
                        try:
                            control.apply(runner, control.Request("cancel", reason=reason, who="signal"))
                        except AgencyError:
                            continue  # it finished meanwhile
                        await runner.done.wait()

    # -- loop -----------------------------------------------------------------

    async def _watch_signals(self, tg: TaskGroup) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
            async for signum in sigs:
                log.info("received %s: stopping (running steps may finish, nothing new starts)",
                         signal.Signals(signum).name)
                self.stopping = True
                self.kick()

    async def _control_loop(self, tg: TaskGroup, *, claim: bool) -> None:
        poll = self.settings.daemon.poll_interval
        idle_exit = self.settings.daemon.idle_exit
        last_version = -1
        next_scan = time.monotonic() + ORPHAN_SCAN_INTERVAL
        next_archive = time.monotonic() + 5.0
        idle_since = time.monotonic()
        faults = self.faults
        while not self.stopping:
            version = faults.attempt("reading the database", self.store.data_version)[1] or last_version
            if version != last_version or self._dirty:
                last_version, self._dirty = version, False
                if not faults.attempt("reading interventions", self._dispatch_interventions, tg)[0]:
                    self._dirty = True  # tried again after the backoff
                if claim and not faults.attempt("claiming a task", self._claim, tg)[0]:
                    self._dirty = True
            now = time.monotonic()
            if claim and now >= next_scan:
                next_scan = now + ORPHAN_SCAN_INTERVAL
                if faults.attempt("the orphan scan", recover_orphans, self.store, self.identity,
                                  self.remote_killer)[1]:
                    self._dirty = True
            if claim and now >= next_archive:
                swept = self._archive_sweep()
                next_archive = now + (ARCHIVE_SWEEP_INTERVAL if swept else faults.delay("the archive sweep"))
            if not claim and not self.runners:
                return
            if self.runners:
                idle_since = now
            elif idle_exit and now - idle_since > idle_exit:
                log.info("idle for %.0fs: exiting", idle_exit)
                return
            retry = faults.next_retry_in()
            with anyio.move_on_after(poll if retry is None else min(poll, max(retry, 0.01))):
                await self._kick.wait()
            if self._kick.is_set():
                self._kick = anyio.Event()

    def _archive_sweep(self) -> bool:
        """Archive finished tasks past archive.retention; drop the metric samples and events
        of archived tasks past task_execution.monitoring.metrics_retention. False when a
        database error stopped it (retried after a backoff, not the full interval)."""
        # first use only: keeps the daemon's start (and crash recovery) fast
        from agent_agency_cli.engine.task_archive import sweep

        try:
            ok, done = self.faults.attempt("the archive sweep", sweep, self.store, self.paths,
                                           self.settings.archive.retention,
                                           self.settings.task_execution.monitoring.metrics_retention)
        except Exception:
            log.exception("archive sweep failed")
            return True
        if not ok:
            return False
        if done["archived"]:
            log.info("archived %d finished task(s) past retention", len(done["archived"]))
        if done["pruned_tasks"]:
            log.info("dropped %d metric sample(s) and %d event(s) of %d archived task(s) past metrics retention",
                     done["pruned_metric_samples"], done["pruned_events"], done["pruned_tasks"])
        return True

    def _claim(self, tg: TaskGroup) -> None:

        hand_back_unstarted(self)  # claimed before a database error stopped their runner's start
        limit = self.settings.task_execution.max_concurrent_tasks
        while len(self.runners) < limit and not self.stopping:
            # The claim joins the group-commit batch: it is committed with the task's first
            # step start (or by the runner's flusher a few loop turns later), never acted on before.
            row = self.store.claim_next_task(self.identity, batch=True)
            if row is None:
                return
            self.unstarted.add(row["id"])
            try:
                runner = self._start_runner(tg, row)
            except BaseException:
                # No runner will commit its claim: commit it now (the hand-back follows), so the
                # write lock is not held while the loop backs off.
                with contextlib.suppress(Exception):
                    self.store.commit_batch()
                raise
            self.unstarted.discard(row["id"])
            runner.commits.joined()

    def _start_runner(self, tg: TaskGroup, row: sqlite3.Row) -> TaskRunner:
        runner = TaskRunner(self, row)
        self.runners[runner.task_id] = runner
        tg.start_soon(self._run_runner, runner)
        return runner

    async def _run_runner(self, runner: TaskRunner) -> None:
        try:
            await runner.run()
        except Exception as exc:
            # lazy: keeps start-up light
            from agent_agency_cli.engine.storage_faults import database_fault, hand_back_when_writable

            why = database_fault(exc)
            if why is None:
                log.exception("task %s: engine error", runner.task_id)
                self._fail_after_engine_error(runner)
            else:  # a full disk: not the task's fault; it resumes once a write succeeds
                self.runners.pop(runner.task_id, None)
                await hand_back_when_writable(self.store, runner.task_id, why, self.remote_killer, self.runners)
        finally:
            self.runners.pop(runner.task_id, None)
            self.kick()

    def _fail_after_engine_error(self, runner: TaskRunner) -> None:
        try:
            status = TaskStatus(self.store.get_task(runner.task_id)["status"])
            if not status.is_terminal:
                self.store.set_task_status(
                    runner.task_id, status, TaskStatus.FAILED, event=EventKind.TASK_FAILED,
                    payload={"reason": "engine error (see daemon.log)"},
                    reason="engine error (see daemon.log)", finished_at=time.time(),
                    exit_code=1, owner=None,
                )
        except Exception:
            log.exception("task %s: could not record the engine error", runner.task_id)

    async def _suspend_all(self) -> None:
        timeout = self.settings.daemon.stop_timeout
        async with anyio.create_task_group() as tg:
            for runner in list(self.runners.values()):
                tg.start_soon(runner.suspend, timeout)

    # -- interventions --------------------------------------------------------

    def _dispatch_interventions(self, tg: TaskGroup) -> None:
        for iv in self.store.pending_interventions():
            if iv["id"] in self._in_flight:
                continue
            runner = self.runners.get(iv["task_id"])
            if runner is not None:
                self._in_flight.add(iv["id"])
                tg.start_soon(self._apply, iv, runner)
                continue
            task = self.store.get_task(iv["task_id"])
            status = TaskStatus(task["status"])
            if status.is_terminal:
                # Nobody runs this task: answer so the caller does not wait in vain.
                self.store.finish_intervention(
                    iv["id"], iv["task_id"], "rejected",
                    f"task {iv['task_id']} is {status}; nothing to {iv['kind']}",
                )

    async def _apply(self, iv: sqlite3.Row, runner: TaskRunner) -> None:
        req = control.Request(iv["kind"], json.loads(iv["args"]), iv["reason"] or "", iv["who"])
        try:
            async with runner.lock:
                message = control.apply(runner, req)
                if req.kind == "cancel":
                    await runner.done.wait()  # answered once its steps have stopped
            outcome = "applied"
        except AgencyError as exc:
            outcome, message = "rejected", str(exc)
        except Exception as exc:
            log.exception("intervention %s failed", iv["id"])
            outcome, message = "rejected", f"engine error: {exc}"
        what = f"recording the answer to intervention {iv['id']}"
        while not self.faults.attempt(what, self.store.finish_intervention, iv["id"], iv["task_id"],
                                      outcome, message)[0]:
            await anyio.sleep(max(self.faults.delay(what), 0.01))  # applied: only its answer waits
        self._in_flight.discard(iv["id"])

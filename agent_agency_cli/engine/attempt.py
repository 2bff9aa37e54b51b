"""One attempt of one step: build the executor handle, run it under a pause-aware
timeout, honour stop requests, and sample its process tree for metrics."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from agent_agency_cli.backends import runs_remotely
from agent_agency_cli.engine.loop_faults import sample_recorder
from agent_agency_cli.engine.process import home_marker, step_markers, with_limits
from agent_agency_cli.engine.step_io import context_fields
from agent_agency_cli.errors import AgencyError
from agent_agency_cli.executors.base import StepHandle, StepLog, StepOutcome
from agent_agency_cli.executors.python import thread_safe_reporter
from agent_agency_cli.executors.registry import AttemptContext, executor_for
from agent_agency_cli.models import StepStatus
from agent_agency_cli.planning.templates import task_variables
from agent_agency_cli.rows import StepSpec

if TYPE_CHECKING:
    from agent_agency_cli.engine.runner import TaskRunner
    from agent_agency_cli.engine.step_state import StepState

S = StepStatus


def step_cwd(runner: TaskRunner, spec: StepSpec) -> Path:
    """The step's working directory: its `workdir` under --workdir, else the workspace."""
    base = runner.workdir or runner.workspace
    if spec.workdir:
        path = Path(os.path.expanduser(spec.workdir))
        return path if path.is_absolute() else base / path
    return base


def make_handle(runner: TaskRunner, st: StepState, spec: StepSpec, log: StepLog,
                on_spawn: Callable[[int], None]) -> StepHandle:
    """The executor handle for this attempt, from the registry by the step's kind."""
    ex = executor_for(spec)
    spec, step_env = unseal(runner, spec), unseal(runner, st.spec.env)
    cwd = step_cwd(runner, spec)
    env = {**runner.env, **step_env, **spec.env}
    env.update(
        step_markers(home_marker(runner.paths.home), runner.task_id, st.name),
        AGENT_AGENCY_WORKSPACE=str(runner.workspace),
        AGENT_AGENCY_ATTEMPT=str(st.attempt),
    )
    limits = step_limits(runner.limits, st.spec)
    ctx = AttemptContext(
        task_id=runner.task_id, step=st.name, attempt=st.attempt, spec=spec, cwd=cwd, env=env, log=log,
        workspace=runner.workspace, workdir=runner.workdir, settings=runner.settings, limits=limits,
        search=[p for p in (runner.plan_dir, runner.workdir, cwd) if p is not None],
        display=masked_text(runner, ex.describe(spec)),
        wrap_argv=lambda argv: with_limits(argv, limits),
        on_spawn=on_spawn,
        report_progress=thread_safe_reporter(lambda f, m: runner.report_progress(st, f, m)),
        cache=runner.executor_cache, services=runner.services, worker=st.worker,
        variables=lambda value: task_variables(runner.store.conn, runner.task_id, value),
        **context_fields(runner, st),
        ask_call=lambda details: runner.ask_call(st, details),
        current_spec=lambda: st.spec,
    )
    # samples taken by the executor itself (a Python step's worker, a Ray node)
    ctx.record_sample = sample_recorder(runner, st.name, st.attempt)
    ctx.metrics_module = _metrics_module
    if runs_remotely(runner.settings, spec):
        from agent_agency_cli.backends.ray import make_handle as ray_handle  # the ray extra, if used

        return ray_handle(ctx)
    return ex.make_handle(ctx)


def _metrics_module() -> Any:
    from agent_agency_cli.engine import metrics  # psutil's sampler: loaded by the first step that samples

    return metrics


def unseal(runner: TaskRunner, value: Any) -> Any:
    """`value` with the task's secrets put back in place of their placeholders."""
    vault = runner.store.vault
    if vault is None:
        return value
    try:
        return vault.unseal(runner.task_id, value)
    except KeyError:
        raise AgencyError("the task's secrets were discarded when it finished or was archived; "
                          "submit it again") from None


def samples_here(runner: TaskRunner, spec: StepSpec) -> bool:
    """Whether the engine samples this attempt's process tree itself (a local process);
    a Ray node samples its own and sends the samples with the output."""
    return executor_for(spec).samples_processes and not runs_remotely(runner.settings, spec)


def masked_text(runner: TaskRunner, text: str) -> str:
    """Text as logs and events show it: secrets masked (cached per text)."""
    shown = runner.masked.get(text)
    if shown is None:
        from agent_agency_cli.security.masking import mask_secrets  # first use only: daemon start

        shown = runner.masked[text] = (runner.secret_mask or mask_secrets)(text)
    return shown


def step_limits(task_limits: dict[str, Any], spec: StepSpec) -> dict[str, Any]:
    """The limits one step runs under: the task's (task modify) and the step's own
    `resources:`, the stricter of the two where both are set."""

    from agent_agency_cli.units import parse_size_mb  # pydantic: loaded on first use

    res = spec.resources
    own: dict[str, Any] = {
        "max_cpu": math.ceil(res["cpu"]) if res.get("cpu") else None,
        "max_memory_mb": parse_size_mb(res.get("memory")) if res.get("memory") else None,
        "cpu_time": res.get("cpu_time"),
        "open_files": res.get("open_files"),
    }
    merged = dict(task_limits or {})
    for key, value in own.items():
        if value:
            merged[key] = min(value, merged[key]) if merged.get(key) else value
    return merged


async def supervise(runner: TaskRunner, st: StepState, handle: StepHandle,
                    timeout: float) -> StepOutcome:
    """Run the handle under a pause-aware timeout and honour stop requests.

    No task per step: one loop timer of the runner fires timeouts (see
    engine.step_deadlines), and stop requests call TaskRunner.stop_step, which
    signals the handle and, for a Python thread that ignores the flag, cancels
    this scope after the grace period.
    """
    runner.arm_deadline(st, time.time() + timeout)
    with anyio.CancelScope() as scope:
        st.scope = scope
        if st.stop_reason is not None:
            runner.stop_step(st)
        outcome = await handle.run()
    st.scope = None
    st.deadline = None
    if scope.cancelled_caught:
        outcome = StepOutcome(ok=False)
    if st.stop_reason is not None:
        reason = f"timeout after {timeout:g}s" if st.stop_reason == "timeout" else st.stop_reason
        extra: dict[str, Any] = {"stopped": st.stop_reason}
        if outcome.extra.get("spawned"):
            extra["spawned"] = True  # what the stopped step started ends with it
        return StepOutcome(ok=False, exit_code=outcome.exit_code, reason=reason, extra=extra)
    return outcome


class MetricsRecorder:
    """Samples a shell step's process tree at the configured interval while it runs.

    Samples go to the step_metrics table (bounded per attempt); the summary
    goes to the step row when the attempt ends. Nothing runs for an attempt shorter
    than one interval: a timer set at spawn starts the sampling task with the first
    sample, whose CPU baseline is the spawn itself (a new process has used no CPU).
    """

    def __init__(self, runner: TaskRunner, st: StepState):
        self.runner = runner
        self.st = st
        self.pid: int | None = None
        self.buffer: Any = None
        self._stored = 0
        self._spawned = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._scope: anyio.CancelScope | None = None
        self._stopped = False

    def started(self, pid: int) -> None:
        """The step's process was spawned: the first sample is due one interval later."""
        self.pid = pid
        self._spawned = time.monotonic()
        interval = self.runner.settings.task_execution.monitoring.metrics_interval
        self._timer = asyncio.get_running_loop().call_later(interval, self._first_sample)

    def _first_sample(self) -> None:
        self._timer = None
        tg = self.runner._tg
        if not self._stopped and tg is not None:
            tg.start_soon(self._sampling)

    async def _sampling(self) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            if not self._stopped:
                await self.run()

    def stop(self) -> None:
        """The attempt ended: no more samples."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        """Take a sample now and then every interval, until the process is gone."""
        try:
            # psutil's sampler: only steps that live past one interval load it.
            from agent_agency_cli.engine.metrics import SeriesBuffer, TreeSampler
        except ImportError:  # pragma: no cover - shipped with the package
            return
        assert self.pid is not None
        mon = self.runner.settings.task_execution.monitoring
        interval = mon.metrics_interval
        sampler = TreeSampler(self.pid, cpu_baseline=(self._spawned, 0.0))
        record = sample_recorder(self.runner, self.st.name, self.st.attempt)
        self.buffer = SeriesBuffer(mon.metrics_max_samples)
        while True:
            sample = sampler.sample()
            if sample is None:
                return
            if self.st.status is not S.PAUSED:
                self.buffer.add(sample)
                if self._stored < mon.metrics_max_samples:
                    self._stored += 1
                    record(sample)
            await anyio.sleep(interval)

    def summary(self) -> dict[str, Any] | None:
        if self.buffer is None or not len(self.buffer):
            return None
        return self.buffer.summary()

"""Shell step attempts on a Ray cluster: the head's side of one attempt.

`make_handle(ctx)` returns a handle the engine drives like a local shell handle
(run, pause, resume, stop). `run()` asks the agent of the node the worker pool picked
(backends.ray_agent.NodeAgent, a detached actor pinned to that node) to spawn the
command in its own process group there, and writes what streams back into the step's
log on the head as it arrives; metric samples go to the same table as local ones
(`ctx.record_sample`), the node's summary into the outcome. Pause and resume are
SIGSTOP / SIGCONT of the group, sent by the agent; stop is the agent's SIGTERM, then
SIGKILL after the grace period, and `ray.cancel` of the call as the last resort.
A dead agent or node fails the attempt (the retry ladder decides what follows).
"""

from __future__ import annotations

import shlex
import signal
import sys
from typing import Any

import anyio

from agent_agency_cli.backends import ray_cluster
from agent_agency_cli.executors.base import StepLog, StepOutcome
from agent_agency_cli.executors.registry import AttemptContext
from agent_agency_cli.executors.shell import command_argv

CANCEL_AFTER = 5.0  # seconds after the agent's stop before the call itself is cancelled


class RayStepHandle:
    """One attempt of a shell step, running on a Ray node."""

    def __init__(self, ctx: AttemptContext, argv: list[str], shown: list[str]):
        self.ctx = ctx
        self.log: StepLog = ctx.log
        self.argv = argv
        self.shown = shown
        self.key = f"{ctx.task_id}/{ctx.step}/{ctx.attempt}"
        self.pid: int | None = None  # the process on its node (not a pid of this machine)
        self.host: str | None = None
        self.agent: Any = None
        self.gen: Any = None
        self._paused = False
        self._stopping = False
        self._samples = 0

    def _spec(self) -> dict[str, Any]:
        mon = self.ctx.settings.task_execution.monitoring
        return {"key": self.key, "task_id": self.ctx.task_id, "step": self.ctx.step, "attempt": self.ctx.attempt,
                "argv": self.argv, "shown0": self.shown[0] if self.shown else "", "cwd": str(self.ctx.cwd),
                "env": self.ctx.env, "head_python": sys.executable, "paused": self._paused,
                "interval": mon.metrics_interval, "max_samples": mon.metrics_max_samples}

    async def run(self) -> StepOutcome:
        shown = self.ctx.display or (self.shown[2] if self.shown[:2] == ["/bin/sh", "-c"]
                                     else shlex.join(self.shown))
        for i, text in enumerate(shown.rstrip("\n").split("\n")):
            self.log.line("sys", f"{'$' if i == 0 else '>'} {text}")
        self.log.line("sys", f"cwd {self.ctx.cwd}")
        if self._stopping:
            return StepOutcome(ok=False, reason="stopped before it started")
        ray = ray_cluster.import_ray()
        node_id = ray_cluster.node_id_for(self.ctx.worker) or ray_cluster.head_node_id()
        where = self.ctx.worker or f"ray-{node_id[:8]}"
        try:
            self.agent = await ray_cluster.agent_for(node_id)
        except Exception as exc:
            reason = f"no Ray node agent on {where}: {_first_line(exc)}"
            self.log.line("sys", reason)
            return StepOutcome(ok=False, reason=reason)
        if self._stopping:  # stopped while the agent was being reached
            return StepOutcome(ok=False, reason="stopped before it started")
        self.gen = self.agent.run.options(num_returns="streaming").remote(self._spec())
        rc: int | None = None
        reason: str | None = None
        summary: dict[str, Any] | None = None
        try:
            async for ref in self.gen:
                for item in await ref:
                    kind = item[0]
                    if kind in ("out", "err"):
                        self.log.feed(kind, item[1])
                    elif kind == "sample":
                        self._record(item[1])
                    elif kind == "started":
                        self.pid, self.host = item[1], item[2]
                        self.log.line("sys", f"pid {self.pid} on {where} ({self.host})")
                    elif kind == "exit":
                        rc, summary, reason = item[1], item[2], item[3]
        except ray.exceptions.TaskCancelledError:
            reason = "cancelled on the Ray node"
        except ray.exceptions.RayActorError as exc:
            ray_cluster.forget_agent(node_id)
            reason = f"the Ray node agent on {where} died: {_first_line(exc)}"
            self.log.line("sys", reason)
            await self._clean_up_after_dead_agent()
            return StepOutcome(ok=False, reason=reason, extra={"node": where})
        except ray.exceptions.RayError as exc:
            reason = f"Ray error on {where}: {_first_line(exc)}"
            self.log.line("sys", reason)
            return StepOutcome(ok=False, reason=reason, extra={"node": where})
        extra: dict[str, Any] = {"node": where}
        if summary:
            extra["metrics"] = summary
        if rc is None:
            self.log.line("sys", reason or "ended without an exit status")
            return StepOutcome(ok=False, reason=reason or "ended without an exit status", extra=extra)
        if reason is not None:  # it never started (missing command or directory)
            self.log.line("sys", reason)
            return StepOutcome(ok=False, exit_code=rc, reason=reason, extra=extra)
        if rc < 0:
            reason = f"killed by {signal.Signals(-rc).name}"
        elif rc:
            reason = f"exit code {rc}"
        self.log.line("sys", f"exit {rc}" if rc >= 0 else reason or "")
        return StepOutcome(ok=rc == 0, exit_code=rc, reason=reason, extra=extra)

    def _record(self, sample: Any) -> None:
        if self._samples < self.ctx.settings.task_execution.monitoring.metrics_max_samples:
            self._samples += 1
            self.ctx.record_sample(sample)

    async def _clean_up_after_dead_agent(self) -> None:
        """The agent died with the step's process still possibly alive (its children left
        the agent's process group): a fresh agent on the node kills it by its markers."""

        try:
            with anyio.move_on_after(30):
                await anyio.to_thread.run_sync(ray_cluster.kill_step_everywhere, self.ctx.task_id,
                                               self.ctx.step, self.ctx.attempt)
        except Exception:  # a node that died took its processes with it
            pass

    def pause(self) -> None:
        self._paused = True
        if self.agent is not None:
            self.agent.signal.remote(self.key, "SIGSTOP")

    def resume(self) -> None:
        self._paused = False
        if self.agent is not None:
            self.agent.signal.remote(self.key, "SIGCONT")

    async def stop(self, grace: float) -> None:
        """SIGTERM the group on its node, SIGKILL after `grace`; then cancel the call if it
        still has not ended (an agent that does not answer)."""

        self._stopping = True
        if self.agent is None:
            return  # run() sees the flag and does not start
        ray = ray_cluster.import_ray()
        try:
            with anyio.move_on_after(grace + CANCEL_AFTER):
                await self.agent.stop.remote(self.key, grace)
                return
        except ray.exceptions.RayError:
            pass
        if self.gen is not None:
            self.log.line("sys", "the Ray node agent did not stop the step; cancelling the Ray call")
            ray.cancel(self.gen, force=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RayShellExecutor:
    """Builds Ray handles for `run:` steps (the shell executor's argv and limits)."""

    def make_handle(self, ctx: AttemptContext) -> RayStepHandle:
        ray_cluster.connect(ctx.settings.execution, start=True)
        argv = command_argv(ctx.spec.run or "")
        return RayStepHandle(ctx, ctx.wrap_argv(argv), argv)


def make_handle(ctx: AttemptContext) -> RayStepHandle:
    return RayShellExecutor().make_handle(ctx)

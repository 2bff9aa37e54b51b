"""The node agent: one Ray actor per node that owns the step processes started there.

The head calls it (see backends.ray): `run()` spawns a step's command in its own
process group on this node and streams back, in batches, its output, its metric
samples (the engine's TreeSampler, taken here on the node) and finally its exit code
with the metric summary; `signal()` stops and continues the group (pause, resume),
`stop()` ends it (SIGTERM, SIGKILL after the grace period), `kill_step()` kills every
process of a step by the agent's records and by the AGENT_AGENCY_TASK_ID /
AGENT_AGENCY_STEP environment markers (crash recovery, a retry after a dead agent).

An async actor: every call runs on its one event loop, so the calls never race.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

READ_CHUNK = 65536
FENCE_MAX = 100_000  # steps whose attempt fence an agent remembers


def _signal_group(pgid: int, sig: int) -> bool:
    from agent_agency_cli.procgroup import signal_group  # lazy: keeps start-up light

    return signal_group(pgid, sig)


@dataclass
class _Attempt:
    task_id: str
    step: str
    attempt: int
    proc: Any
    paused: bool = False
    stopping: bool = False
    buffer: Any = None  # the engine's SeriesBuffer of this attempt's samples
    items: asyncio.Queue = field(default_factory=asyncio.Queue)


class NodeAgent:
    """Owns the step processes of one node (created by ray_cluster.agent_sync)."""

    def __init__(self) -> None:
        self.attempts: dict[str, _Attempt] = {}
        self.pending_pause: dict[str, bool] = {}  # signalled before its process existed
        self.pending_stop: set[str] = set()
        # (task, step) -> the highest attempt that must never run (again) here: set by
        # kill_step (recovery) and by each newer attempt, so that a call of a dead engine
        # that arrives late cannot start a second live attempt of the step.
        self.fence: dict[tuple[str, str], int] = {}
        self.host = socket.gethostname()

    async def ping(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": self.host, "attempts": len(self.attempts)}

    async def list_attempts(self) -> list[dict[str, Any]]:
        return [{"key": k, "task_id": a.task_id, "step": a.step, "attempt": a.attempt, "pid": a.proc.pid,
                 "paused": a.paused} for k, a in self.attempts.items()]

    async def run(self, spec: dict[str, Any]):  # an async generator: num_returns="streaming"
        """Run one attempt; yields lists of (kind, ...) items: ("started", pid, host),
        ("out"|"err", text), ("sample", Sample), finally ("exit", rc, summary, reason)."""
        key, task_id, step, attempt = spec["key"], spec["task_id"], spec["step"], spec["attempt"]
        if attempt <= self.fence.get((task_id, step), 0):
            yield [("exit", None, None, "superseded: a newer attempt of the step was started")]
            return
        self._fence(task_id, step, attempt - 1)
        if attempt > 1:
            # Whatever an earlier attempt left (its agent died, its engine crashed) goes first:
            # never two live attempts of one step.
            await asyncio.to_thread(self._kill_marked, task_id, step)
        if key in self.pending_stop:
            self.pending_stop.discard(key)
            yield [("exit", None, None, "stopped before it started")]
            return
        argv = list(spec["argv"])
        if argv and argv[0] == spec.get("head_python"):
            argv[0] = sys.executable  # the limits launcher, with this node's interpreter
        cwd = spec["cwd"]
        if not os.path.isdir(cwd):
            yield [("exit", 127, None, f"working directory {cwd} does not exist on node {self.host}")]
            return
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=spec["env"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            yield [("exit", 127, None, f"command not found: {spec['shown0']}")]
            return
        except PermissionError:
            yield [("exit", 126, None, f"permission denied: {spec['shown0']}")]
            return
        except OSError as exc:
            yield [("exit", 127, None, f"cannot start {spec['shown0']}: {exc.strerror or exc}")]
            return
        att = _Attempt(task_id, step, attempt, proc)
        self.attempts[key] = att
        if key in self.pending_stop or attempt <= self.fence.get((task_id, step), 0):
            # stopped, or fenced off by recovery, while it was being spawned
            self.pending_stop.discard(key)
            att.stopping = True
            _signal_group(proc.pid, signal.SIGKILL)
        if self.pending_pause.pop(key, spec.get("paused")):  # a later pause/resume wins over the spec
            att.paused = _signal_group(proc.pid, signal.SIGSTOP)
        helpers = [asyncio.create_task(self._pump(proc.stdout, "out", att)),
                   asyncio.create_task(self._pump(proc.stderr, "err", att))]
        sampler = asyncio.create_task(self._sample(att, spec.get("interval") or 1.0, spec.get("max_samples") or 600))
        waiter = asyncio.create_task(self._wait(att, helpers))
        try:
            yield [("started", proc.pid, self.host)]
            while True:
                batch = [await att.items.get()]
                while not att.items.empty():
                    batch.append(att.items.get_nowait())
                done = [b for b in batch if b[0] == "done"]
                out = [b for b in batch if b[0] != "done"]
                if out:
                    yield out
                if done:
                    rc = done[0][1]
                    break
            sampler.cancel()
            summary = att.buffer.summary() if att.buffer is not None and len(att.buffer) else None
            yield [("exit", rc, summary, None)]
        finally:
            # Cancelled (ray.cancel) or torn down: nothing of the step outlives the call.
            if proc.returncode is None:
                _signal_group(proc.pid, signal.SIGKILL)
                _signal_group(proc.pid, signal.SIGCONT)
            for t in (*helpers, sampler, waiter):
                t.cancel()
            self.attempts.pop(key, None)

    def _fence(self, task_id: str, step: str, attempt: int) -> None:
        key = (task_id, step)
        self.fence[key] = max(self.fence.get(key, 0), attempt)
        while len(self.fence) > FENCE_MAX:  # bounded: the oldest steps' fences go first
            del self.fence[next(iter(self.fence))]

    async def _pump(self, stream: Any, name: str, att: _Attempt) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            chunk = await stream.read(READ_CHUNK)
            if not chunk:
                break
            text = decoder.decode(chunk)
            if text:
                att.items.put_nowait((name, text))
        tail = decoder.decode(b"", final=True)
        if tail:
            att.items.put_nowait((name, tail))

    async def _wait(self, att: _Attempt, pumps: list[asyncio.Task]) -> None:
        rc = await att.proc.wait()
        # The leader is gone: kill what is left of its group so no child outlives the step.
        _signal_group(att.proc.pid, signal.SIGKILL)
        try:
            await asyncio.wait_for(asyncio.gather(*pumps, return_exceptions=True), 2.0)
        except TimeoutError:
            pass
        att.items.put_nowait(("done", rc))

    async def _sample(self, att: _Attempt, interval: float, max_samples: int) -> None:
        from agent_agency_cli.engine.metrics import SeriesBuffer, TreeSampler  # lazy: keeps start-up light

        sampler = TreeSampler(att.proc.pid)
        att.buffer = SeriesBuffer(max_samples)
        while True:
            await asyncio.sleep(interval)
            sample = await asyncio.to_thread(sampler.sample)
            if sample is None:
                return
            if att.paused:
                continue
            att.buffer.add(sample)
            att.items.put_nowait(("sample", sample))

    async def signal(self, key: str, name: str) -> bool:
        """SIGSTOP / SIGCONT the attempt's process group; remembered if it has not started."""
        att = self.attempts.get(key)
        if att is None:
            self.pending_pause[key] = name == "SIGSTOP"
            return False
        att.paused = name == "SIGSTOP"
        return _signal_group(att.proc.pid, getattr(signal, name))

    async def stop(self, key: str, grace: float) -> bool:
        """SIGTERM the group (woken first), SIGKILL after `grace`; returns once it is gone."""
        att = self.attempts.get(key)
        if att is None:
            self.pending_stop.add(key)
            return False
        att.stopping = True
        att.paused = False
        pgid = att.proc.pid
        _signal_group(pgid, signal.SIGTERM)
        _signal_group(pgid, signal.SIGCONT)
        try:
            await asyncio.wait_for(asyncio.shield(att.proc.wait()), grace)
        except TimeoutError:
            _signal_group(pgid, signal.SIGKILL)
        for _ in range(400):  # the promise: nothing is left (about 2 s at most)
            if not await asyncio.to_thread(_group_alive, pgid):
                break
            await asyncio.sleep(0.005)
        return True

    async def kill_step(self, task_id: str, step: str, attempt: int = 0) -> int:
        """Kill every process of this step on this node and fence its attempts up to
        `attempt` off; returns how many processes were killed."""
        self._fence(task_id, step, attempt)
        killed = 0
        for att in list(self.attempts.values()):
            if att.task_id == task_id and att.step == step and _signal_group(att.proc.pid, signal.SIGKILL):
                killed += 1
        return killed + await asyncio.to_thread(self._kill_marked, task_id, step)

    @staticmethod
    def _kill_marked(task_id: str, step: str) -> int:
        from agent_agency_cli.procgroup import kill_marked  # lazy: keeps start-up light

        return kill_marked({"AGENT_AGENCY_TASK_ID": task_id, "AGENT_AGENCY_STEP": step})


def _group_alive(pgid: int) -> bool:
    from agent_agency_cli.procgroup import group_alive  # lazy: keeps start-up light

    return group_alive(pgid)

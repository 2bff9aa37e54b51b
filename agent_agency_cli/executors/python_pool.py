"""Python steps run in worker processes: a warm pool per engine, so a step cannot take the engine down.

Each worker (executors/python_worker.py) runs one step at a time and is reused.
The engine drives a worker from its event loop, without a thread per step: the run
request is written to the worker's run pipe and the loop waits for the result pipe
to be readable (one wake-up each way). A worker that dies (`os._exit`, a segfault,
the OOM killer) fails that attempt with the cause ("python step worker died: killed
by SIGSEGV") and is replaced by the next step that needs one. A step with resource
limits gets a fresh worker with the limits applied to it (prlimit/affinity), retired
when the step ends, so a limit never outlives its step. Pause stops the worker's
process group (SIGSTOP) besides blocking `ctx.checkpoint()`; cancel raises
StepCancelled at the next checkpoint and kills the worker if it is still running
after the grace. While a step runs longer than a moment its worker's process tree is
sampled for metrics, as a shell step's is (see `_Sampling`).

Workers are spawned by one long-lived thread: a worker dies with the thread that
spawned it (`PR_SET_PDEATHSIG`), so that thread must live as long as the engine.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from agent_agency_cli.executors.base import StepLog, StepOutcome
from agent_agency_cli.executors.python_worker import _HEADER, frame

MAX_IDLE = 64  # idle workers kept warm (as many as the steps that ran at once); more are closed
IDLE_TTL = 60.0  # seconds an idle worker beyond the first KEEP_WARM is kept after its last step
KEEP_WARM = 2
FIRST_SAMPLE = 0.1  # seconds a step runs before its worker's tree is sampled (no-op steps never are)


class Worker:
    """One worker process and its three pipes (the engine's ends non-blocking)."""

    def __init__(self) -> None:
        run_r, self.run_w = os.pipe()
        ctl_r, self.ctl_w = os.pipe()
        self.res_r, res_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent_agency_cli.executors.python_worker",
                 str(run_r), str(ctl_r), str(res_w), str(os.getpid())],
                pass_fds=(run_r, ctl_r, res_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                start_new_session=True,  # its own group: pause/kill reach what the step started, not the engine
            )
        except BaseException:
            for fd in (self.run_w, self.ctl_w, self.res_r):
                os.close(fd)
            raise
        finally:
            for fd in (run_r, ctl_r, res_w):
                os.close(fd)
        for fd in (self.run_w, self.ctl_w, self.res_r):
            os.set_blocking(fd, False)
        self._buf = bytearray()
        self._eof = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop watching the result pipe
        self._waiter: asyncio.Future[None] | None = None
        self.seq = 0  # numbers this worker's steps (control messages name the step they are for)
        self.seen: tuple[dict[bytes, bytes], str] | None = None  # the engine's environ and cwd it last got
        self.idle_since = 0.0
        self.closed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def send_run(self, msg: tuple[Any, ...]) -> bool:
        """Write a run request (waiting while the pipe is full); False if the worker is gone."""
        view = memoryview(frame(msg))
        while view:
            try:
                view = view[os.write(self.run_w, view):]
            except BlockingIOError:
                await anyio.wait_writable(self.run_w)
            except OSError:
                return False
        return True

    def post(self, msg: tuple[Any, ...]) -> bool:
        """A control message, without blocking (a frame this small is written whole or not at all)."""
        try:
            os.write(self.ctl_w, frame(msg))
            return True
        except OSError:
            return False  # gone, or not reading: the signals sent with it still act

    def _take(self) -> Any:
        buf = self._buf
        if len(buf) < _HEADER.size:
            return None
        size = _HEADER.unpack_from(buf)[0]
        end = _HEADER.size + size
        if len(buf) < end:
            return None
        msg = pickle.loads(bytes(buf[_HEADER.size:end]))
        del buf[:end]
        return msg

    async def recv(self) -> Any:
        """The worker's next message; None once its pipe closed (it died).

        The result pipe stays registered with the event loop while the worker lives (not
        added and removed around every wait): a step's result costs one epoll wake-up
        and one read."""
        while True:
            msg = self._take()
            if msg is not None:
                return msg
            if self._eof:
                return None
            loop = asyncio.get_running_loop()
            if self._loop is not loop:
                self._watch(loop)
            self._waiter = waiter = loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._unwatch()
        loop.add_reader(self.res_r, self._readable)
        self._loop = loop

    def _unwatch(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(Exception):  # a loop of an earlier run, or one shutting down
                loop.remove_reader(self.res_r)

    def _readable(self) -> None:
        try:
            chunk = os.read(self.res_r, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self._buf += chunk
        else:  # EOF: the worker died (a closed pipe stays readable: stop watching it)
            self._eof = True
            self._unwatch()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def apply_limits(self, limits: dict[str, Any]) -> None:
        """The step's resources: memory (RLIMIT_AS), cpu_time, open files, cores."""
        import resource  # lazy: keeps start-up light

        pid = self.proc.pid
        if limits.get("max_memory_mb"):
            n = int(limits["max_memory_mb"]) * 1024 * 1024
            resource.prlimit(pid, resource.RLIMIT_AS, (n, n))
        if limits.get("cpu_time"):
            s = max(1, int(limits["cpu_time"]))
            resource.prlimit(pid, resource.RLIMIT_CPU, (s, s + 5))
        if limits.get("open_files"):
            n = int(limits["open_files"])
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (n, n))
        if limits.get("max_cpu") and hasattr(os, "sched_setaffinity"):
            cores = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(pid, cores[: max(1, min(int(limits["max_cpu"]), len(cores)))])

    def death(self) -> str:
        """Why the worker is gone, once its pipe closed (blocks until it is reaped)."""
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.wait()
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            return f"python step worker died: killed by {name}"
        return f"python step worker died: exited with code {rc}"

    def kill(self) -> None:
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def close(self, *, kill: bool = False, wait: float = 0.0) -> None:
        """Close the pipes (the worker exits on their EOF); `kill` first for one mid-step.

        Without `wait` it is not reaped here: subprocess reaps it on a later spawn."""
        if kill:
            self.kill()
        if not self.closed:
            self.closed = True
            self._unwatch()
            for fd in (self.run_w, self.ctl_w, self.res_r):
                with contextlib.suppress(OSError):
                    os.close(fd)
        if wait:
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                self.kill()
                self.proc.wait()
        else:
            self.proc.poll()


class WorkerPool:
    """Warm workers of this engine process (created on first use, closed at exit)."""

    def __init__(self) -> None:
        self._idle: list[Worker] = []
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self._spawner: concurrent.futures.ThreadPoolExecutor | None = None

    async def acquire(self, fresh: bool = False) -> Worker:
        if not fresh:
            with self._lock:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.proc.poll() is None:
                        return worker
                    worker.close()
        return await self._spawn()

    async def _spawn(self) -> Worker:
        with self._lock:
            if self._spawner is None:
                self._spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="agency-python-spawner")
            spawner = self._spawner
        future = asyncio.get_running_loop().run_in_executor(spawner, Worker)
        try:
            return await future
        except BaseException:
            # cancelled while spawning: the worker it makes is nobody's
            future.add_done_callback(lambda f: None if f.cancelled() or f.exception() else f.result().close(kill=True))
            raise

    def release(self, worker: Worker) -> None:
        now = time.monotonic()
        worker.idle_since = now
        with self._lock:
            # the least recently used sit first; those idle too long (past a few kept warm) go
            stale = [w for w in self._idle[:-KEEP_WARM or None] if now - w.idle_since > IDLE_TTL]
            self._idle = [w for w in self._idle if w not in stale]
            keep = len(self._idle) < MAX_IDLE and worker.proc.poll() is None
            if keep:
                self._idle.append(worker)
        for old in stale:
            old.close()
        if not keep:
            worker.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        if os.getpid() != self._owner:
            return  # a forked child does not own its parent's workers
        for worker in idle:
            worker.close(wait=1.0)


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def pool() -> WorkerPool:
    """This process's pool (a forked child gets its own: see _forget_pool)."""
    global _pool
    current = _pool
    if current is not None:
        return current
    with _pool_lock:
        if _pool is None:
            _pool = WorkerPool()
            atexit.register(_pool.close)
        return _pool


def _forget_pool() -> None:
    global _pool
    _pool = None  # the parent's workers are not the child's (and its close() leaves them alone)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


_env_seen: tuple[dict[bytes, bytes], str] | None = None


def _engine_env() -> tuple[dict[bytes, bytes], str]:
    """The engine's environment and cwd, as one object that stays the same while they do
    (compared as raw bytes: building a str dict of os.environ per step costs more)."""
    global _env_seen
    raw = os.environ._data  # type: ignore[attr-defined]
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    seen = _env_seen
    if seen is None or seen[1] != cwd or seen[0] != raw:
        seen = _env_seen = (dict(raw), cwd)
    return seen


@dataclasses.dataclass
class Sampling:
    """How a step's worker is sampled for metrics (engine settings) and where samples go."""

    interval: float
    max_samples: int
    record: Callable[[Any], None]
    metrics: Callable[[], Any]  # engine/metrics.py (TreeSampler, SeriesBuffer), loaded on first use


class _Sampler:
    """Samples the worker's process tree while it runs one step, from the event loop (timers,
    no task per step). The tree's I/O counters are cumulative over the worker's life, so
    the step's figures are counted from its start."""

    def __init__(self, handle: WorkerHandle, pid: int, sampling: Sampling):
        self.handle, self.pid, self.cfg = handle, pid, sampling
        self.tree: Any = None
        self.buffer: Any = None
        self.base_io: tuple[int, int] = (0, 0)
        self.stored = 0
        self.timer = asyncio.get_running_loop().call_later(min(FIRST_SAMPLE, sampling.interval), self.tick)

    def tick(self) -> None:
        if self.timer is None:
            return
        if self.tree is None:
            metrics = self.cfg.metrics()
            self.tree = metrics.TreeSampler(self.pid, gpu=True)  # the CPU baseline
            self.buffer = metrics.SeriesBuffer(self.cfg.max_samples)
            self.base_io = self.tree._io or (0, 0)
        else:
            sample = self.tree.sample()
            if sample is None:
                return
            if sample.read_bytes is not None and sample.write_bytes is not None:
                sample = dataclasses.replace(sample, read_bytes=max(0, sample.read_bytes - self.base_io[0]),
                                             write_bytes=max(0, sample.write_bytes - self.base_io[1]))
            if not self.handle._paused:
                self.buffer.add(sample)
                if self.stored < self.cfg.max_samples:
                    self.stored += 1
                    self.cfg.record(sample)
        self.timer = asyncio.get_running_loop().call_later(self.cfg.interval, self.tick)

    def stop(self) -> dict[str, Any] | None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        return self.buffer.summary() if self.buffer is not None and len(self.buffer) else None


class WorkerHandle:
    """One attempt of a Python step in a worker process."""

    def __init__(self, ref: str, request: dict[str, Any], log: StepLog, limits: dict[str, Any],
                 report_progress: Callable[[float, str | None], None], sampling: Sampling | None = None):
        self.ref = ref
        self.request = request
        self.log = log
        self.limits = {k: v for k, v in limits.items()
                       if k in ("max_memory_mb", "cpu_time", "open_files", "max_cpu") and v}
        self.report = report_progress
        self.sampling = sampling
        self.worker: Worker | None = None
        self.pid: int | None = None
        self.seq = 0
        self._paused = False
        self._cancelled = False
        self._done = asyncio.Event()  # not anyio's: its Event costs a backend lookup per step

    async def run(self) -> StepOutcome:
        self.log.line("sys", f"python {self.ref}")
        try:
            return await self._run()
        finally:
            self._done.set()

    async def _run(self) -> StepOutcome:
        fresh = bool(self.limits)
        try:
            worker = await pool().acquire(fresh=fresh)
        except OSError as exc:
            return StepOutcome(ok=False, reason=f"cannot start a python step worker: {exc}")
        try:
            if fresh:
                worker.apply_limits(self.limits)
        except OSError as exc:
            worker.close(kill=True)
            return StepOutcome(ok=False, reason=f"cannot apply the step's limits: {exc}")
        request = self.request
        here = _engine_env()
        if worker.seen is not here:  # a step sees the engine's environment and cwd, as it would inline
            request = {**request, "os_environ": dict(os.environ), "cwd": here[1]}
            worker.seen = here
        if self._cancelled:  # stopped before it began: nothing ran, the worker stays warm
            if fresh:
                worker.close()
            else:
                pool().release(worker)
            return StepOutcome(ok=False, reason="cancelled")
        worker.seq += 1
        self.worker, self.pid, self.seq = worker, worker.pid, worker.seq
        sampler: _Sampler | None = None
        outcome: StepOutcome | None = None
        finished = False
        try:
            if await worker.send_run(("run", self.seq, request)):
                if self._paused:
                    self.pause()
                if self.sampling is not None:
                    sampler = _Sampler(self, worker.pid, self.sampling)
                outcome = await self._follow(worker)
            finished = True
        finally:
            summary = sampler.stop() if sampler is not None else None
            self.worker = None
            if not finished:  # cancelled mid-step: the worker is still running it
                worker.close(kill=True)
        if outcome is None:
            reason = await anyio.to_thread.run_sync(worker.death)
            worker.close()
            self.log.line("sys", reason)
            # it died (or was killed) mid-step: what the step started may still run
            return StepOutcome(ok=False, reason=reason, extra={"spawned": True})
        if fresh or self._cancelled:
            worker.close(kill=self._cancelled)  # limits or a cancel request must not outlive the step
        else:
            pool().release(worker)
        if summary:
            outcome.extra["metrics"] = summary
        return outcome

    async def _follow(self, worker: Worker) -> StepOutcome | None:
        """Relay the worker's log and progress until the step's result; None if it died."""
        while True:
            msg = await worker.recv()
            if msg is None:
                return None
            kind = msg[0]
            if kind == "line":
                self.log.line(msg[1], msg[2])
            elif kind == "feed":
                self.log.feed(msg[1], msg[2])
            elif kind == "progress":
                self.report(msg[1], msg[2])
            elif kind == "done":
                _, ok, reason, result, lines, spawned = msg
                extra = {"spawned": True} if spawned else {}  # the engine ends what it started
                if ok:
                    self.log.line("sys", "returned")
                    return StepOutcome(ok=True, exit_code=0, result=result, extra=extra)
                if reason == "cancelled":
                    self.log.line("sys", "cancelled")
                else:
                    for line in lines:
                        self.log.line("err", line)
                return StepOutcome(ok=False, reason=reason, extra=extra)

    def pause(self) -> None:
        self._paused = True
        worker = self.worker
        if worker is not None:
            worker.post(("pause", self.seq))
            worker.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._paused = False
        worker = self.worker
        if worker is not None:
            worker.signal_group(signal.SIGCONT)
            worker.post(("resume", self.seq))

    async def stop(self, grace: float) -> None:
        self._cancelled = True
        worker = self.worker
        if worker is None:
            return
        worker.signal_group(signal.SIGCONT)
        worker.post(("cancel", self.seq))
        with anyio.move_on_after(grace):
            await self._done.wait()
        if not self._done.is_set():
            worker.kill()  # ignores checkpoint(): end it, the pipe closes and run() returns


def make_request(ref: str, *, task_id: str, step: str, workspace: Path, workdir: Path, attempt: int,
                 env: dict[str, str], search: list[Path]) -> dict[str, Any]:
    """What a worker needs to run one attempt (plain, picklable values). `env` is the
    attempt's own dict (built for it by the engine), so it is not copied again."""
    return {"ref": ref, "task_id": task_id, "step": step, "workspace": str(workspace),
            "workdir": str(workdir), "attempt": attempt, "env": env, "search": [str(p) for p in search]}

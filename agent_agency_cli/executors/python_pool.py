"""Python steps run in worker processes: a warm pool per engine, so a step cannot take the engine down.

Each worker (executors/python_worker.py) runs one step at a time and is reused.
A worker that dies (`os._exit`, a segfault, the OOM killer) fails that attempt
with the cause ("python step worker died: killed by SIGSEGV") and is replaced by
the next step that needs one. A step with resource limits gets a fresh worker
with the limits applied to it (prlimit/affinity), retired when the step ends,
so a limit never outlives its step. Pause stops the worker's process group
(SIGSTOP) besides blocking `ctx.checkpoint()`; cancel raises StepCancelled at
the next checkpoint and kills the worker if it is still running after the grace.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from agent_agency_cli.executors.base import StepLog, StepOutcome

MAX_IDLE = 64  # idle workers kept warm (as many as the steps that ran at once); more are closed
IDLE_TTL = 60.0  # seconds an idle worker beyond the first KEEP_WARM is kept after its last step
KEEP_WARM = 2


class Worker:
    """One worker process and its two pipes."""

    def __init__(self) -> None:
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent_agency_cli.executors.python_worker", str(to_r), str(from_w)],
            pass_fds=(to_r, from_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            start_new_session=True,  # its own group: pause/kill reach what the step started, not the engine
        )
        os.close(to_r)
        os.close(from_w)
        self.inbox = Connection(from_r, writable=False)
        self.outbox = Connection(to_w, readable=False)
        self._send_lock = threading.Lock()
        self.seen: tuple[dict[str, str], str] | None = None  # the engine's environ and cwd it last got
        self.idle_since = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, msg: tuple[Any, ...]) -> bool:
        with self._send_lock:
            try:
                self.outbox.send(msg)
                return True
            except (BrokenPipeError, OSError):
                return False

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def apply_limits(self, limits: dict[str, Any]) -> None:
        """The step's resources: memory (RLIMIT_AS), cpu_time, open files, cores."""
        import resource

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
        """Why the worker is gone, once its pipe closed."""
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

    def close(self) -> None:
        for conn in (self.outbox, self.inbox):
            with contextlib.suppress(OSError):
                conn.close()
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=1)  # it exits on the closed pipe
            except subprocess.TimeoutExpired:
                self.kill()
                self.proc.wait()


class WorkerPool:
    """Warm workers of this engine process (created on first use, closed at exit)."""

    def __init__(self) -> None:
        self._idle: list[Worker] = []
        self._lock = threading.Lock()
        self._owner = os.getpid()

    def acquire(self, fresh: bool = False) -> Worker:
        if not fresh:
            with self._lock:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.proc.poll() is None:
                        return worker
                    worker.close()
        return Worker()

    def release(self, worker: Worker) -> None:
        now = time.monotonic()
        worker.idle_since = now
        with self._lock:
            # the least recently used sit first; those idle too long (past a few kept warm) go
            stale = [w for w in self._idle[:-KEEP_WARM or None] if now - w.idle_since > IDLE_TTL]
            self._idle = [w for w in self._idle if w not in stale]
            if len(self._idle) < MAX_IDLE and worker.proc.poll() is None:
                self._idle.append(worker)
                worker = None  # type: ignore[assignment]
        for old in stale:
            old.close()
        if worker is not None:
            worker.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        if os.getpid() != self._owner:
            return  # a forked child does not own its parent's workers
        for worker in idle:
            worker.close()


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def pool() -> WorkerPool:
    """This process's pool (a forked child gets its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool._owner != os.getpid():
            _pool = WorkerPool()
            atexit.register(_pool.close)
        return _pool


class WorkerHandle:
    """One attempt of a Python step in a worker process."""

    def __init__(self, ref: str, request: dict[str, Any], log: StepLog, limits: dict[str, Any],
                 report_progress: Callable[[float, str | None], None]):
        self.ref = ref
        self.request = request
        self.log = log
        self.limits = {k: v for k, v in limits.items()
                       if k in ("max_memory_mb", "cpu_time", "open_files", "max_cpu") and v}
        self.report = report_progress
        self.worker: Worker | None = None
        self.pid: int | None = None
        self._lock = threading.Lock()
        self._paused = False
        self._cancelled = False
        self._done = threading.Event()

    async def run(self) -> StepOutcome:
        self.log.line("sys", f"python {self.ref}")
        try:
            return await anyio.to_thread.run_sync(self._run_blocking, abandon_on_cancel=True)
        finally:
            self._done.set()

    def _run_blocking(self) -> StepOutcome:
        fresh = bool(self.limits)
        worker = pool().acquire(fresh=fresh)
        try:
            if fresh:
                worker.apply_limits(self.limits)
        except OSError as exc:
            worker.kill()
            worker.close()
            return StepOutcome(ok=False, reason=f"cannot apply the step's limits: {exc}")
        with self._lock:
            self.worker, self.pid = worker, worker.pid
            cancelled, paused = self._cancelled, self._paused
        request = self.request
        here = (dict(os.environ), os.getcwd())
        if worker.seen != here:  # a step sees the engine's environment and cwd, as it would inline
            request = {**request, "os_environ": here[0], "cwd": here[1]}
            worker.seen = here
        if cancelled:  # stopped before it began: nothing ran, the worker stays warm
            if fresh:
                worker.close()
            else:
                pool().release(worker)
            return StepOutcome(ok=False, reason="cancelled")
        if not worker.send(("run", request)):
            return StepOutcome(ok=False, reason=worker.death())
        if paused:
            worker.send(("pause",))
            worker.signal_group(signal.SIGSTOP)
        outcome = self._follow(worker)
        with self._lock:
            self.worker = None
        if outcome is None:
            reason = worker.death()
            worker.close()
            self.log.line("sys", reason)
            return StepOutcome(ok=False, reason=reason)
        if fresh or self._cancelled:
            worker.close()  # limits or a cancel request must not outlive the step
        else:
            pool().release(worker)
        return outcome

    def _follow(self, worker: Worker) -> StepOutcome | None:
        """Relay the worker's log and progress until the step's result; None if it died."""
        while True:
            try:
                msg = worker.inbox.recv()
            except (EOFError, OSError):
                return None
            kind = msg[0]
            if kind == "line":
                self.log.line(msg[1], msg[2])
            elif kind == "feed":
                self.log.feed(msg[1], msg[2])
            elif kind == "progress":
                self.report(msg[1], msg[2])
            elif kind == "done":
                _, ok, reason, result, lines = msg
                if ok:
                    self.log.line("sys", "returned")
                    return StepOutcome(ok=True, exit_code=0, result=result)
                if reason == "cancelled":
                    self.log.line("sys", "cancelled")
                else:
                    for line in lines:
                        self.log.line("err", line)
                return StepOutcome(ok=False, reason=reason)

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            worker = self.worker
        if worker is not None:
            worker.send(("pause",))
            worker.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            worker = self.worker
        if worker is not None:
            worker.signal_group(signal.SIGCONT)
            worker.send(("resume",))

    async def stop(self, grace: float) -> None:
        with self._lock:
            self._cancelled = True
            worker = self.worker
        if worker is None:
            return
        worker.signal_group(signal.SIGCONT)
        worker.send(("cancel",))
        with anyio.move_on_after(grace):
            while not self._done.is_set():
                await anyio.sleep(0.02)
        if not self._done.is_set():
            worker.kill()  # ignores checkpoint(): end it, the pipe closes and run() returns


def make_request(ref: str, *, task_id: str, step: str, workspace: Path, workdir: Path, attempt: int,
                 env: dict[str, str], search: list[Path]) -> dict[str, Any]:
    """What a worker needs to run one attempt (plain, picklable values)."""
    return {"ref": ref, "task_id": task_id, "step": step, "workspace": str(workspace),
            "workdir": str(workdir), "attempt": attempt, "env": dict(env), "search": [str(p) for p in search]}

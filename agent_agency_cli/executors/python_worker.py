"""The worker process that runs Python steps, one at a time, outside the engine.

Started by executors/python_pool.py as `python -m agent_agency_cli.executors.python_worker
RUN_FD CONTROL_FD RESULT_FD ENGINE_PID`. Whatever a step does here (`os._exit`, a segfault,
exhausting memory) ends this process only; the engine sees the pipe close and fails that
attempt. The worker dies with the engine: `PR_SET_PDEATHSIG` (SIGKILL, which also ends a
worker the engine had paused with SIGSTOP) and, between steps, the run pipe's EOF.

Protocol: length-prefixed pickled tuples (see `frame`) over three pipes, both ends ours.
  engine -> worker, run pipe (read by the main thread, which runs the step):
      ("run", seq, request dict)
  engine -> worker, control pipe (read by a thread while a step runs):
      ("pause", seq), ("resume", seq), ("cancel", seq)
  worker -> engine, result pipe:
      ("line", stream, text), ("feed", stream, chunk), ("progress", f, msg),
      ("done", ok, reason, result, traceback lines, spawned)
`spawned`: the step started processes (a child exited meanwhile, or one is still running),
so the engine ends whatever carries the step's markers, as it does after a shell step.
`seq` numbers the worker's steps, so a control message never reaches a later step. Two
engine->worker pipes let the main thread wait for work itself: a step costs one wake-up
each way, not a relay through a reader thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import pickle
import signal
import struct
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

_HEADER = struct.Struct("!I")
# The markers a step's own processes carry (engine/process.step_markers): what the step
# starts inherits them, so step end and crash recovery find those processes.
_MARKERS = ("AGENT_AGENCY_HOME_ID", "AGENT_AGENCY_TASK_ID", "AGENT_AGENCY_STEP")
_PR_SET_PDEATHSIG = 1


def frame(msg: tuple[Any, ...]) -> bytes:
    """One message as it travels: a 4-byte big-endian length, then the pickle."""
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        try:
            chunk = os.read(fd, left)
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> Any:
    """The next message from a blocking fd; None at EOF."""
    head = _read_exact(fd, _HEADER.size)
    if head is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(head)[0])
    return None if body is None else pickle.loads(body)


def die_with_parent(engine_pid: int) -> None:
    """SIGKILL this process when the engine dies (Linux), even while it is stopped."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes  # lazy: keeps start-up light

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != engine_pid:  # the engine died before the prctl took effect
        os._exit(0)


class _PipeLog:
    """A StepLog look-alike whose lines travel to the engine (which masks and writes them)."""

    def __init__(self, send: Any):
        self._send = send

    def line(self, stream: str, text: str) -> None:
        self._send(("line", stream, text))

    def feed(self, stream: str, chunk: str) -> None:
        self._send(("feed", stream, chunk))


class _Control:
    """Pause/resume/cancel for the step now running, whichever thread gets them first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = -1
        self._ctx: Any = None
        self._early: dict[int, list[str]] = {}  # for a step whose run message is not read yet

    def apply(self, kind: str, seq: int) -> None:
        with self._lock:
            if seq == self._seq and self._ctx is not None:
                _act(self._ctx, kind)
            elif seq > self._seq:
                self._early.setdefault(seq, []).append(kind)

    def begin(self, seq: int, ctx: Any) -> None:
        with self._lock:
            self._seq, self._ctx = seq, ctx
            for kind in self._early.pop(seq, []):
                _act(ctx, kind)
            self._early = {s: k for s, k in self._early.items() if s > seq}

    def end(self) -> None:
        with self._lock:
            self._ctx = None


def _act(ctx: Any, kind: str) -> None:
    if kind == "pause":
        ctx._running.clear()
    elif kind == "resume":
        ctx._running.set()
    elif kind == "cancel":
        ctx._cancelled.set()
        ctx._running.set()


_child_exited = False  # set by SIGCHLD: the step started a process (even one that is gone)


def _on_child(signum: int, frame: Any) -> None:
    global _child_exited
    _child_exited = True


def _reap_leftovers() -> None:
    """Reap what earlier steps left (processes the engine ended at their step's end, whose
    Popen nobody waited for): a zombie child must not count as this step's."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _spawned() -> bool:
    """Whether the step now ending started any process: one exited meanwhile (SIGCHLD), or
    this worker has a child now (one waitid that reaps nothing; the worker has no children
    of its own)."""
    if _child_exited:
        return True
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False  # no child at all
    except (OSError, AttributeError):  # pragma: no cover - no waitid: ask /proc
        from agent_agency_cli.procgroup import own_children  # lazy: keeps start-up light

        return bool(own_children())
    return True  # a child, running or not yet reaped


# The Path of a workspace or workdir: the same few for thousands of steps.
_path = functools.lru_cache(maxsize=256)(Path)


def _run_one(seq: int, req: dict[str, Any], transmit: Any, control: _Control) -> None:
    global _child_exited
    _reap_leftovers()
    _child_exited = False

    def send(msg: tuple[Any, ...]) -> None:  # the step's end also says whether it started processes
        transmit((*msg, _spawned()) if msg[0] == "done" else msg)

    from agent_agency_cli.errors import PlanError  # lazy: keeps start-up light
    from agent_agency_cli.executors.output_capture import capture_into  # lazy: keeps start-up light

    # lazy: keeps start-up light
    from agent_agency_cli.executors.python import StepCancelled, StepContext, _jsonable, resolve_callable

    if "os_environ" in req:
        os.environ.clear()
        os.environ.update(req["os_environ"])
        with contextlib.suppress(OSError):
            os.chdir(req["cwd"])
    log = _PipeLog(send)
    ctx = StepContext(
        task_id=req["task_id"], step=req["step"], workspace=_path(req["workspace"]),
        workdir=_path(req["workdir"]), attempt=req["attempt"], env=req["env"], log=log,  # type: ignore[arg-type]
        report_progress=lambda f, m: send(("progress", f, m)),
    )
    control.begin(seq, ctx)
    try:
        fn = resolve_callable(req["ref"], req["search"])
    except PlanError as exc:
        send(("done", False, str(exc), None, [str(exc)]))
        return
    # What the step starts carries its markers. They stay set after the step (nothing runs
    # between steps) and the next step sets its own: no restore per step.
    env = req["env"]
    for key in _MARKERS:
        value = env.get(key)
        if value is None:
            os.environ.pop(key, None)
        elif os.environ.get(key) != value:
            os.environ[key] = value
    try:
        with capture_into(log):  # type: ignore[arg-type]
            result = asyncio.run(fn(ctx)) if inspect.iscoroutinefunction(fn) else fn(ctx)
    except StepCancelled:
        send(("done", False, "cancelled", None, ["cancelled"]))
        return
    except (SystemExit, KeyboardInterrupt) as exc:
        what = f"{type(exc).__name__}({exc})" if str(exc) else type(exc).__name__
        send(("done", False, f"the step raised {what}; a step cannot stop the engine", None,
              traceback.format_exc().rstrip().splitlines()))
        return
    except BaseException as exc:
        send(("done", False, f"{type(exc).__name__}: {exc}", None, traceback.format_exc().rstrip().splitlines()))
        return
    send(("done", True, None, _jsonable(result) if result is not None else None, []))


def main(run_fd: int, control_fd: int, result_fd: int, engine_pid: int) -> None:
    die_with_parent(engine_pid)
    signal.signal(signal.SIGCHLD, _on_child)
    send_lock = threading.Lock()
    control = _Control()

    def send(msg: tuple[Any, ...]) -> None:
        data = frame(msg)
        with send_lock:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(result_fd, view):]
            except OSError:
                os._exit(0)  # the engine is gone: nothing left to report to

    def read_control() -> None:
        while True:
            msg = read_frame(control_fd)
            if msg is None:
                os._exit(0)  # the engine closed the pool (or died)
            control.apply(msg[0], msg[1])

    threading.Thread(target=read_control, name="agency-worker-control", daemon=True).start()
    while True:
        msg = read_frame(run_fd)
        if msg is None:
            return  # the engine closed the pool (or died)
        _, seq, req = msg
        try:
            _run_one(seq, req, send, control)
        finally:
            control.end()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))

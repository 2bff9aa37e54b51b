"""The worker process that runs Python steps, one at a time, outside the engine.

Started by executors/python_pool.py as `python -m agent_agency_cli.executors.python_worker
READ_FD WRITE_FD`. Whatever a step does here (`os._exit`, a segfault, exhausting memory)
ends this process only; the engine sees the pipe close and fails that attempt.

Protocol (pickled tuples over two pipes; both ends are ours):
  engine -> worker: ("run", request dict), ("pause",), ("resume",), ("cancel",)
  worker -> engine: ("line", stream, text), ("feed", stream, chunk), ("progress", f, msg),
                    ("done", ok, reason, result, traceback lines)
A closed engine pipe ends the worker (the engine died or closed its pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import queue
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any


class _PipeLog:
    """A StepLog look-alike whose lines travel to the engine (which masks and writes them)."""

    def __init__(self, send: Any):
        self._send = send

    def line(self, stream: str, text: str) -> None:
        self._send(("line", stream, text))

    def feed(self, stream: str, chunk: str) -> None:
        self._send(("feed", stream, chunk))


def _run_one(req: dict[str, Any], send: Any, control: dict[str, Any]) -> None:
    from agent_agency_cli.errors import PlanError
    from agent_agency_cli.executors.output_capture import capture_into
    from agent_agency_cli.executors.python import StepCancelled, StepContext, _jsonable, resolve_callable

    if "os_environ" in req:
        os.environ.clear()
        os.environ.update(req["os_environ"])
        with contextlib.suppress(OSError):
            os.chdir(req["cwd"])
    log = _PipeLog(send)
    ctx = StepContext(
        task_id=req["task_id"], step=req["step"], workspace=Path(req["workspace"]),
        workdir=Path(req["workdir"]), attempt=req["attempt"], env=req["env"], log=log,  # type: ignore[arg-type]
        report_progress=lambda f, m: send(("progress", f, m)),
    )
    control["ctx"] = ctx
    if control.get("cancelled"):
        ctx._cancelled.set()
    if control.get("paused"):
        ctx._running.clear()
    try:
        fn = resolve_callable(req["ref"], [Path(p) for p in req["search"]])
    except PlanError as exc:
        send(("done", False, str(exc), None, [str(exc)]))
        return
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


def main(read_fd: int, write_fd: int) -> None:
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    send_lock = threading.Lock()
    runs: queue.Queue[dict[str, Any] | None] = queue.Queue()
    control: dict[str, Any] = {}

    def send(msg: tuple[Any, ...]) -> None:
        with send_lock:
            try:
                outbox.send(msg)
            except (BrokenPipeError, OSError):
                os._exit(0)  # the engine is gone: nothing left to report to

    def read() -> None:
        # Control messages arrive while a step runs in the main thread.
        while True:
            try:
                msg = inbox.recv()
            except (EOFError, OSError):
                os._exit(0)
            kind = msg[0]
            ctx = control.get("ctx")
            if kind == "run":
                control.clear()
                runs.put(msg[1])
            elif kind == "pause":
                control["paused"] = True
                if ctx is not None:
                    ctx._running.clear()
            elif kind == "resume":
                control["paused"] = False
                if ctx is not None:
                    ctx._running.set()
            elif kind == "cancel":
                control["cancelled"] = True
                if ctx is not None:
                    ctx._cancelled.set()
                    ctx._running.set()

    threading.Thread(target=read, name="agency-worker-control", daemon=True).start()
    while True:
        req = runs.get()
        if req is None:
            return
        _run_one(req, send, control)
        control.pop("ctx", None)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))

"""`print()` in a Python step goes to that step's log, not to the engine's stdout.

Python steps run in the engine's process, so their `sys.stdout` is the daemon's
(`daemon.log`). While any step runs, `sys.stdout`/`sys.stderr` are routers that send a
write to the step log of the step whose context the writing code runs in (a context
variable: anyio copies it into the worker thread), and everything else to the
stream they replaced. The log masks secrets like all step output.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from agent_agency_cli.executors.base import StepLog

_current: ContextVar[StepLog | None] = ContextVar("agent_agency_step_log", default=None)
_lock = threading.Lock()


class _Router(io.TextIOBase):
    def __init__(self, stream: str, fallback: Any):
        self._stream = stream
        self._fallback = fallback

    def write(self, text: str) -> int:
        log = _current.get()
        if log is None:
            return self._fallback.write(text)
        log.feed(self._stream, text)
        return len(text)

    def flush(self) -> None:
        if _current.get() is None:
            self._fallback.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False if _current.get() is not None else self._fallback.isatty()

    def fileno(self) -> int:
        return self._fallback.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fallback, name)


_active = 0  # captures under way (steps running); the routers are installed while > 0


def _install() -> None:
    global _active
    with _lock:
        _active += 1
        if not isinstance(sys.stdout, _Router):
            sys.stdout = _Router("out", sys.stdout)
        if not isinstance(sys.stderr, _Router):
            sys.stderr = _Router("err", sys.stderr)


def _uninstall() -> None:
    """The last capture ended: put back the streams the routers replaced. A router left in
    place would keep writing to whatever sys.stdout was when the first step ran (in a
    process that swaps its streams, e.g. Typer's CliRunner, a buffer long gone). A stream
    someone else replaced the router with meanwhile is left alone."""
    global _active
    with _lock:
        _active -= 1
        if _active:
            return
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if isinstance(current, _Router):
                setattr(sys, name, current._fallback)


@contextlib.contextmanager
def capture_into(log: StepLog) -> Iterator[None]:
    """Route this context's (and its worker threads') prints into `log`."""
    _install()
    token = _current.set(log)
    try:
        yield
    finally:
        _current.reset(token)
        _uninstall()

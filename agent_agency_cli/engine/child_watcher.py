"""Reaping child processes without a thread per child.

On Python 3.11 asyncio's default child watcher is `ThreadedChildWatcher`: every
spawned step starts a thread that blocks in `waitpid`. In the daemon that was
about 40% of the samples at 150 one-step tasks a second (issue 13). Linux (5.3+)
has pid file descriptors: `PidfdChildWatcher` adds the child's pidfd to the
event loop's selector, so an exit is just another readable fd. Python 3.12+
picks that watcher by default, so there this module does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import warnings
from collections.abc import AsyncIterator
from typing import Any


def pidfd_supported() -> bool:
    """Whether this kernel and Python can open a pidfd (probed on our own pid)."""
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        fd = os.pidfd_open(os.getpid())
    except OSError:
        return False
    os.close(fd)
    return True


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _LoopPidfdWatcher(asyncio.PidfdChildWatcher):
    """Pidfds for the children of one loop; children of any other loop (another thread's:
    an API server, a test) go to the watcher that was there before, as if we weren't."""

    def __init__(self, fallback: Any):
        super().__init__()
        self._fallback = fallback

    def is_active(self) -> bool:
        if _running_loop() is self._loop:
            return super().is_active()
        return self._fallback.is_active()

    def add_child_handler(self, pid: int, callback: Any, *args: Any) -> None:
        if _running_loop() is self._loop:
            super().add_child_handler(pid, callback, *args)
        else:
            self._fallback.add_child_handler(pid, callback, *args)

    def remove_child_handler(self, pid: int) -> bool:
        return super().remove_child_handler(pid) or self._fallback.remove_child_handler(pid)


@contextlib.asynccontextmanager
async def pidfd_children() -> AsyncIterator[None]:
    """Inside the block, the running loop's subprocesses are reaped through pidfds.

    The watcher is global to asyncio: the previous one is put back afterwards and keeps
    serving every other loop meanwhile.
    """
    loop = _running_loop()
    if sys.version_info >= (3, 12) or loop is None or not pidfd_supported():
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        previous = asyncio.get_child_watcher()
        watcher = _LoopPidfdWatcher(previous)
        watcher.attach_loop(loop)
        asyncio.set_child_watcher(watcher)
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_child_watcher(previous)
        watcher.close()

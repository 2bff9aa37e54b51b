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
import os
import sys
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


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


async def with_pidfd_watcher(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run `await fn(*args)` with the running loop's children reaped through pidfds.

    For a process that owns one event loop (the daemon): the watcher is global to
    asyncio, so the previous one is put back when `fn` returns.
    """
    if sys.version_info >= (3, 12) or not pidfd_supported():
        return await fn(*args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        previous = asyncio.get_child_watcher()
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(asyncio.get_running_loop())
        asyncio.set_child_watcher(watcher)
    try:
        return await fn(*args)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_child_watcher(previous)
        watcher.close()

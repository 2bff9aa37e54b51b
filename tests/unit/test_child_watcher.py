"""The daemon reaps its steps through pidfds: no thread per child, exit codes intact."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import warnings

import anyio
import pytest

from agent_agency_cli.engine.child_watcher import pidfd_supported, with_pidfd_watcher

pytestmark = pytest.mark.skipif(sys.version_info >= (3, 12) or not pidfd_supported(),
                                reason="Python 3.12+ reaps through pidfds already; needs Linux pidfds")


def _watcher() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.get_child_watcher()


async def _spawn_and_reap() -> tuple[str, list[str], list[int]]:
    watcher = type(_watcher()).__name__
    # `cat` waits on its stdin: the child is alive while the threads are counted.
    proc = await anyio.open_process(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    failing = await anyio.open_process([sys.executable, "-c", "raise SystemExit(3)"])
    reapers = [t.name for t in threading.enumerate() if "waitpid" in t.name]
    assert proc.stdin is not None
    await proc.stdin.aclose()
    codes = [await proc.wait(), await failing.wait()]
    return watcher, reapers, codes


def test_children_are_reaped_without_a_thread_each() -> None:
    before = type(_watcher())
    watcher, reapers, codes = anyio.run(with_pidfd_watcher, _spawn_and_reap)
    assert watcher == "PidfdChildWatcher"
    assert reapers == []
    assert codes == [0, 3]
    assert type(_watcher()) is before  # put back for the next loop


def test_without_the_wrapper_asyncio_starts_a_reaper_thread() -> None:
    """The contrast the wrapper exists for (if this fails, asyncio changed its default)."""
    _watcher_name, reapers, codes = anyio.run(_spawn_and_reap)
    assert codes == [0, 3]
    assert len(reapers) == 2

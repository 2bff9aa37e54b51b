"""The engine reaps its steps through pidfds: no thread per child, exit codes intact,
and the children of other event loops still reaped by asyncio's own watcher."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import warnings

import anyio
import pytest

from agent_agency_cli.engine.child_watcher import pidfd_children, pidfd_supported

pytestmark = pytest.mark.skipif(sys.version_info >= (3, 12) or not pidfd_supported(),
                                reason="Python 3.12+ reaps through pidfds already; needs Linux pidfds")


def _watcher() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.get_child_watcher()


def _reapers() -> list[str]:
    return [t.name for t in threading.enumerate() if "waitpid" in t.name]


async def _spawn_and_reap() -> tuple[list[str], list[int]]:
    # `cat` waits on its stdin: the child is alive while the threads are counted.
    proc = await anyio.open_process(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    failing = await anyio.open_process([sys.executable, "-c", "raise SystemExit(3)"])
    reapers = _reapers()
    assert proc.stdin is not None
    await proc.stdin.aclose()
    return reapers, [await proc.wait(), await failing.wait()]


async def _engine_like() -> tuple[str, list[str], list[int]]:
    async with pidfd_children():
        watcher = type(_watcher()).__name__
        reapers, codes = await _spawn_and_reap()
    return watcher, reapers, codes


def test_children_are_reaped_without_a_thread_each() -> None:
    before = type(_watcher())
    watcher, reapers, codes = anyio.run(_engine_like)
    assert watcher == "_LoopPidfdWatcher"
    assert reapers == []
    assert codes == [0, 3]
    assert type(_watcher()) is before  # put back for the next loop


def test_without_it_asyncio_starts_a_reaper_thread_per_child() -> None:
    """The contrast the watcher exists for (if this fails, asyncio changed its default)."""
    reapers, codes = anyio.run(_spawn_and_reap)
    assert codes == [0, 3]
    assert len(reapers) == 2


def test_another_loop_in_another_thread_keeps_working_meanwhile() -> None:
    """An engine's loop and, say, an API server's loop in one process: each gets its exits."""
    inside = threading.Event()
    release = threading.Event()
    other: dict[str, object] = {}

    async def engine() -> list[int]:
        async with pidfd_children():
            proc = await anyio.open_process(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
            inside.set()
            await anyio.to_thread.run_sync(release.wait, 30)
            assert proc.stdin is not None
            await proc.stdin.aclose()
            return [await proc.wait()]

    def other_loop() -> None:
        assert inside.wait(30)
        try:
            other["codes"] = anyio.run(_spawn_and_reap)[1]
        except BaseException as exc:  # reported by the assertion below
            other["error"] = exc
        finally:
            release.set()

    t = threading.Thread(target=other_loop)
    t.start()
    assert anyio.run(engine) == [0]
    t.join(30)
    assert other.get("codes") == [0, 3], other.get("error")

"""Processes that leave a step's process group (`setsid sh -c 'sleep 300 &'`).

Signalling the step's group does not reach them. The daemon makes itself a child
subreaper (Linux `prctl(PR_SET_CHILD_SUBREAPER)`), so such a process is re-parented to
the daemon instead of init once its parent exits; when a step ends (completed, failed,
timed out or cancelled) every process carrying the step's environment markers is ended
and the ones that were the daemon's children are reaped.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
from collections.abc import Iterator

from agent_agency_cli.procgroup import LIVE_LEADERS, has_markers, kill_marked_pids, own_children

log = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36
_subreaper = False


def become_subreaper() -> bool:
    """Make this process the child subreaper of its descendants (Linux only). Returns
    whether it is one now."""
    global _subreaper
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_CHILD_SUBREAPER) failed: %s", os.strerror(ctypes.get_errno()))
            return False
    except (OSError, AttributeError) as exc:
        log.warning("cannot become a child subreaper: %s", exc)
        return False
    _subreaper = True
    return True


@contextlib.contextmanager
def subreaper_while() -> Iterator[None]:
    """Be a child subreaper for the block (a foreground engine), then stop being one
    unless it was before (the daemon)."""
    global _subreaper
    was = _subreaper
    if was or not become_subreaper():
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        _subreaper = False


def end_escaped(markers: dict[str, str]) -> int:
    """SIGKILL every process carrying `markers` (a step that has ended); returns how many.

    As a subreaper, a process that left the step lands among our children once its
    parent exits: when none of our children carries the markers there is nothing to end,
    and the scan of every process's environment is skipped. Elsewhere it always scans.
    """
    if not may_have_escaped(markers):
        return 0
    return _kill_escaped(markers)


def may_have_escaped(markers: dict[str, str]) -> bool:
    """False when no process can carry `markers` (we are a subreaper and none of our
    children does): a few small /proc reads, cheap enough for the event loop."""
    return not _subreaper or any(has_markers(pid, markers) for pid in own_children() if pid not in LIVE_LEADERS)


def _kill_escaped(markers: dict[str, str]) -> int:
    pids = kill_marked_pids(markers)
    for pid in pids:
        try:
            os.waitpid(pid, 0)  # adopted: ours to reap (never a pid asyncio spawned: those
            # are step leaders, already reaped when the step ended)
        except ChildProcessError:
            pass  # not our child: its own parent (or init) reaps it
    if pids:
        log.info("ended %d process(es) step %s of task %s left running", len(pids),
                 markers.get("AGENT_AGENCY_STEP"), markers.get("AGENT_AGENCY_TASK_ID"))
    return len(pids)


async def end_escaped_async(runner: object, st: object, *, anywhere: bool = False) -> int:
    """end_escaped for a step of a runner: the check on the loop (no thread hop for the
    common case, nothing escaped), the scan of every process off it. `anywhere`: skip the
    check (a Python step's worker said the step started processes: they are the worker's
    children, not ours, so only the scan finds them)."""
    from agent_agency_cli.engine.process import home_marker, step_markers  # lazy: keeps start-up light

    markers = step_markers(home_marker(runner.paths.home), runner.task_id, st.name)  # type: ignore[attr-defined]
    if not anywhere and not may_have_escaped(markers):
        return 0
    import anyio  # lazy: keeps start-up light

    return await anyio.to_thread.run_sync(_kill_escaped, markers)

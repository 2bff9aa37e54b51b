"""Process groups: spawn a command in its own session, signal it, stop it, wait until it is gone.

The one place that knows how the tool's child processes are started and ended:
shell steps (executors.shell), quality-gate tools (gates.tools), notification
commands (notify) and the clean-up of a dead engine's steps (engine.recovery).

- Every child is the leader of a new session, hence of its own process group
  (pgid == its pid), so one signal reaches everything it started.
- Stopping is SIGTERM to the group (and SIGCONT, so a paused group can act on
  it), then SIGKILL after a grace period, then waiting until no live member of
  the group is left — a command's background children included.

POSIX only (Linux and macOS, as `paths` supports): /proc is used where it exists
because it is cheap; elsewhere psutil answers the same questions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # subprocess loads at first spawn: `task pause` only asks whether an engine lives
    import subprocess

# Keyword arguments that make subprocess.Popen / anyio.open_process start a new session.
NEW_SESSION: dict[str, Any] = {"start_new_session": True}
# Step leaders this process spawned and has not reaped yet (executors.shell_process): our
# children that are known, so the check for processes that escaped a step skips them
# instead of reading each one's environment at every step end.
LIVE_LEADERS: set[int] = set()
_HAS_PROC = sys.platform.startswith("linux") and os.path.isdir("/proc")
_POLL = 0.005  # seconds between checks while waiting for a group to empty


def spawn(argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[bytes]:
    """subprocess.Popen(argv) as the leader of a new process group (fds not inherited)."""
    import subprocess  # lazy: keeps start-up light

    popen_kwargs.setdefault("close_fds", True)
    return subprocess.Popen(list(argv), **NEW_SESSION, **popen_kwargs)


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to process group `pgid`; False when the group is gone (or not ours)."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def kill_group(pgid: int) -> bool:
    """SIGKILL every member of the group; False when it was already gone."""
    return signal_group(pgid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in group `pgid`.

    killpg(pgid, 0) alone is not enough: it succeeds while zombies wait to be reaped.
    """
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return any(True for _ in _members(pgid))


def _members(pgid: int) -> Iterable[int]:
    """Pids of the live (non-zombie) members of group `pgid`."""
    if _HAS_PROC:
        try:
            entries = os.listdir("/proc")
        except OSError:
            entries = []
        for entry in entries:
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # fields[0] is the state, fields[2] the process group id
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                yield int(entry)
        return
    import psutil  # lazy: keeps start-up light

    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                yield proc.pid
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue


def identity_alive(identity: str | None) -> bool:
    """Whether the process named by engine.process.engine_identity() ("pid:start_time", the
    start as psutil gives it) still runs and is not a zombie.

    From /proc where it exists (the start is boot time + starttime ticks, psutil's own
    formula), so the commands that only ask whether an engine lives skip importing psutil.
    """
    if not identity:
        return False
    try:
        pid_s, created_s = identity.split(":", 1)
        pid, created = int(pid_s), float(created_s)
    except ValueError:
        return False
    if _HAS_PROC:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            # fields[0] is the state, fields[19] the start in clock ticks after boot
            started = int(fields[19]) / os.sysconf("SC_CLK_TCK") + _boot_time()
        except (OSError, IndexError, ValueError):
            return False
        return abs(started - created) < 0.01 and fields[0] not in (b"Z", b"X")
    import psutil  # lazy: keeps start-up light

    try:
        p = psutil.Process(pid)
        return abs(p.create_time() - created) < 0.01 and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _boot_time() -> float:
    with open("/proc/stat", "rb") as fh:
        for line in fh:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def wait_group_gone(pgid: int, timeout: float) -> bool:
    """Block until group `pgid` has no live member or `timeout` passes; True when it is gone."""
    deadline = time.monotonic() + timeout
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)  # polling a state with a deadline, not waiting for luck
    return True


async def wait_group_gone_async(pgid: int, timeout: float) -> bool:
    """wait_group_gone for an event loop (anyio)."""
    import anyio  # lazy: keeps start-up light

    with anyio.move_on_after(timeout):
        while group_alive(pgid):
            await anyio.sleep(_POLL)
        return True
    return False


def stop_process(proc: subprocess.Popen[Any], grace: float, *, settle: float = 2.0) -> int | None:
    """Stop `proc`'s group: SIGTERM (and SIGCONT), SIGKILL after `grace` seconds, then reap.

    Afterwards whatever the command left in its group is killed too, and we wait up
    to `settle` seconds for the group to be gone. Returns the leader's exit status.
    Callers that read the child's pipes must drain them themselves (see notify).
    """
    import subprocess  # lazy: keeps start-up light

    pgid = proc.pid
    if grace > 0:
        signal_group(pgid, signal.SIGTERM)
        signal_group(pgid, signal.SIGCONT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    kill_group(pgid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=settle)
    wait_group_gone(pgid, settle)
    return proc.returncode


async def terminate_group(pgid: int, leader_exited: Callable[[], Awaitable[Any]], grace: float,
                          on_kill: Callable[[], None] | None = None) -> bool:
    """SIGTERM the group (woken with SIGCONT if stopped); SIGKILL it after `grace` seconds.

    `leader_exited` waits for the leader (e.g. anyio Process.wait). `on_kill` is
    called before the SIGKILL, to say so in a log. True when SIGTERM was enough.
    """
    import anyio  # lazy: keeps start-up light

    signal_group(pgid, signal.SIGTERM)
    signal_group(pgid, signal.SIGCONT)
    with anyio.move_on_after(grace):
        await leader_exited()
        return True
    if on_kill is not None:
        on_kill()
    kill_group(pgid)
    return False


# -- clean-up after a dead engine ------------------------------------------------------


def kill_orphan_group(pgid: int | None, started_at: float | None, markers: dict[str, str] | None = None) -> int:
    """SIGKILL the members of group `pgid` that started no earlier than `started_at` and,
    when `markers` are given, whose environment holds all of them.

    The start-time check keeps a recycled group id from hitting an older unrelated
    process; the markers keep it from hitting one started later (a pid reused after the
    attempt began). Returns how many processes were killed.
    """
    if not pgid:
        return 0
    import psutil  # lazy: keeps start-up light

    wanted = [f"{k}={v}".encode() for k, v in (markers or {}).items()]
    killed = 0
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
            if started_at is not None and proc.info["create_time"] < started_at - 1.0:
                continue
            if wanted and not _has_markers(proc.pid, wanted):
                continue
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return killed


def own_children() -> list[int]:
    """This process's children (all its threads), from /proc; [] where unreadable."""
    kids: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return []
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children", "rb") as fh:
                kids.extend(int(p) for p in fh.read().split())
        except OSError:
            continue
    return kids


def kill_marked(markers: dict[str, str]) -> int:
    """SIGKILL every process (but this one) whose environment holds all of `markers`.

    The net for a child that left its group, or a crash between a spawn and the
    commit of its pid. Returns how many processes were killed.
    """
    return len(kill_marked_pids(markers))


def kill_marked_pids(markers: dict[str, str]) -> list[int]:
    """kill_marked, returning the pids it signalled."""
    wanted = [f"{k}={v}".encode() for k, v in markers.items()]
    killed = []
    for pid, env in _environments():
        if all(m in env for m in wanted):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def has_markers(pid: int, markers: dict[str, str]) -> bool:
    """Whether process `pid`'s environment holds all of `markers` (False if unreadable)."""
    return _has_markers(pid, [f"{k}={v}".encode() for k, v in markers.items()])


def _has_markers(pid: int, wanted: list[bytes]) -> bool:
    """Whether process `pid`'s environment holds every `KEY=value` in `wanted` (False if unreadable)."""
    if _HAS_PROC:
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            return False
    else:
        import psutil  # lazy: keeps start-up light

        try:
            env = [f"{k}={v}".encode() for k, v in psutil.Process(pid).environ().items()]
        except (psutil.Error, OSError):
            return False
    return all(m in env for m in wanted)


def _environments() -> Iterable[tuple[int, list[bytes]]]:
    """(pid, ["KEY=value", ...]) of every process we may read, this one excluded."""
    me = os.getpid()
    if _HAS_PROC:
        try:
            pids = [int(e) for e in os.listdir("/proc") if e.isdigit()]
        except OSError:
            pids = []
        for pid in pids:
            if pid == me:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    yield pid, fh.read().split(b"\0")
            except OSError:
                continue
        return
    import psutil  # lazy: keeps start-up light

    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        yield proc.pid, [f"{k}={v}".encode() for k, v in env.items()]

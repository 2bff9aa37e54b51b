"""OS-level helpers: process identity (pid + start time), group clean-up, resource limits."""

from __future__ import annotations

import os
import resource
import signal
from typing import Any

import psutil


def engine_identity(pid: int | None = None) -> str:
    """"pid:start_time" — unlike a bare pid, it cannot be confused with a later process."""
    p = psutil.Process(pid or os.getpid())
    return f"{p.pid}:{p.create_time():.3f}"


def identity_alive(identity: str | None) -> bool:
    """Whether the process named by engine_identity() still runs."""
    if not identity:
        return False
    try:
        pid_s, created_s = identity.split(":", 1)
        p = psutil.Process(int(pid_s))
        return abs(p.create_time() - float(created_s)) < 0.01 and p.status() != psutil.STATUS_ZOMBIE
    except (ValueError, psutil.Error):
        return False


def kill_orphan_group(pgid: int | None, started_at: float | None) -> int:
    """SIGKILL the members of process group `pgid` that started no earlier than the step.

    The start-time check keeps a recycled group id from hitting an unrelated
    process. Returns how many processes were killed.
    """
    if not pgid:
        return 0
    killed = 0
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
            if started_at is not None and proc.info["create_time"] < started_at - 1.0:
                continue
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return killed


def apply_limits(pid: int, limits: dict[str, Any]) -> None:
    """Apply a task's resource limits to a freshly started step process.

    max_cpu: pin to that many cores; max_memory_mb: RLIMIT_AS. Children the
    step forks later inherit both.
    """
    if not limits:
        return
    try:
        proc = psutil.Process(pid)
        cpus = limits.get("max_cpu")
        if cpus and hasattr(proc, "cpu_affinity"):
            available = sorted(os.sched_getaffinity(0))
            proc.cpu_affinity(available[: max(1, min(int(cpus), len(available)))])
        mem = limits.get("max_memory_mb")
        if mem:
            nbytes = int(mem) * 1024 * 1024
            proc.rlimit(resource.RLIMIT_AS, (nbytes, nbytes))
    except (psutil.Error, OSError, ValueError):
        pass

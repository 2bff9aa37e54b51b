"""Alert thresholds (config monitoring.alert_thresholds): a task running too long, a step
near its memory limit or saturating its CPU, too many failed attempts. Each alert is an
event (kind `alert`) and a notification (hook event `alert`), raised once per cause."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from agent_agency_cli.event_kinds import EventKind

if TYPE_CHECKING:
    from agent_agency_cli.engine.runner import TaskRunner
    from agent_agency_cli.engine.step_state import StepState


def raise_alert(runner: TaskRunner, cause: str, message: str, step: str | None = None,
                **details: Any) -> None:
    key = f"{cause}:{step or ''}"
    if key in runner.alerted:
        return
    runner.alerted.add(key)
    runner.store.add_event(runner.task_id, EventKind.ALERT, {"cause": cause, "message": message, **details},
                           step=step)
    runner.engine.notify_hooks(EventKind.ALERT, runner.task_id)


def watch_duration(runner: TaskRunner, started_at: float) -> asyncio.TimerHandle | None:
    """Alert once the task has run longer than duration_warning: a loop timer (no task),
    which the runner cancels when it ends; None when no limit is set."""

    limit = runner.settings.task_execution.monitoring.alert_thresholds.duration_warning
    if limit <= 0:
        return None
    return asyncio.get_running_loop().call_later(
        max(0.0, started_at + limit - time.time()), lambda: raise_alert(
            runner, "duration", f"task has been running for more than {limit:g}s", threshold=limit))


def check_step(runner: TaskRunner, st: StepState, summary: dict[str, Any] | None,
               memory_limit_mb: float | None, cpu_cores: float | None) -> None:
    """After an attempt: memory peak against its limit, mean CPU against its cores."""
    if not summary:
        return
    th = runner.settings.task_execution.monitoring.alert_thresholds
    peak = summary.get("rss_peak_bytes")
    if peak and memory_limit_mb:
        share = 100.0 * peak / (memory_limit_mb * 1024 * 1024)
        if share >= th.memory_warning:
            raise_alert(runner, "memory", f"step {st.name} used {share:.0f}% of its "
                        f"{memory_limit_mb:g} MiB memory limit", step=st.name, percent=round(share, 1),
                        threshold=th.memory_warning)
    cpu = summary.get("cpu_percent_mean")
    if cpu is not None and cpu_cores:
        share = cpu / cpu_cores
        if share >= th.cpu_warning:
            raise_alert(runner, "cpu", f"step {st.name} used {share:.0f}% of its {cpu_cores:g} "
                        "core(s) on average", step=st.name, percent=round(share, 1),
                        threshold=th.cpu_warning)


def check_error_rate(runner: TaskRunner) -> None:
    """After a failed attempt: the share of failed attempts in the task."""
    attempts = sum(s.attempt for s in runner.steps.values())
    runner.failed_attempts += 1
    thresholds = runner.settings.task_execution.monitoring.alert_thresholds
    if attempts < max(2, thresholds.error_rate_min_attempts):
        return
    rate = 100.0 * runner.failed_attempts / attempts
    threshold = thresholds.error_rate_warning
    if rate >= threshold:
        raise_alert(runner, "error_rate", f"{runner.failed_attempts} of {attempts} attempts failed "
                    f"({rate:.0f}%)", percent=round(rate, 1), threshold=threshold)

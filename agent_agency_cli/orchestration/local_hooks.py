"""Notification hooks fired by a change made in this process (a CLI command, the SDK)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from agent_agency_cli.paths import CONFIG_ENV

if TYPE_CHECKING:
    from agent_agency_cli.orchestrator import TaskOrchestrator


def config_may_have_hooks(orch: TaskOrchestrator) -> bool:
    """False only when certain: no config file at all (the defaults have no hooks), or
    one that never names the `notifications` section. Anything else loads the settings."""
    path = orch.config_path or os.environ.get(CONFIG_ENV)
    if not path:
        default = orch.home / "config.yaml"
        if not default.exists():
            return False
        path = str(default)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "notifications" in fh.read()
    except OSError:
        return True  # the settings load reports the problem in its own words


def notify_here(orch: TaskOrchestrator, kind: str, task_id: str) -> None:
    """Deliver the hooks for `kind` now: the CLI process exits soon (bounded by the hooks'
    timeouts). Skips loading the config when it certainly names no hooks."""
    if orch._settings is None and not config_may_have_hooks(orch):
        return  # loading the config to learn there are none costs pydantic and yaml
    hooks = orch.settings.notifications.hooks
    if not hooks:
        return
    from agent_agency_cli.notify import deliver, task_payload  # lazy: keeps start-up light

    payload = orch.store.redact(task_id, task_payload(orch.store.get_task(task_id)))  # no secret
    deliver(list(hooks), kind, payload, log=lambda msg: None)

"""Interventions left pending by an engine that died before applying them.

A `task cancel` (or pause, modify, ...) sent to an engine that then stops is still a row
in `interventions` with no outcome. Recovery hands the task back without an owner; the
row is then applied here, on the stored task, before any engine claims it again, so a
cancel sent to a dead engine cancels the task instead of being lost (and the step re-run).
"""

from __future__ import annotations

import json
import logging

from agent_agency_cli.engine import control
from agent_agency_cli.errors import AgencyError
from agent_agency_cli.store import Store

log = logging.getLogger(__name__)


def pending_ids(store: Store, task_id: str) -> list[int]:
    """Ids of the task's interventions that nobody has answered yet, oldest first."""
    return store.pending_intervention_ids(task_id)


def apply_pending(store: Store, task_id: str, ids: list[int]) -> list[tuple[int, str, str]]:
    """Apply these pending interventions, in order, to a task no engine holds.

    Returns (id, outcome, message) for each; every row gets its outcome recorded.
    Notification hooks are not sent from here (the recovering engine's own hooks are).
    """
    done = []
    for iid in ids:
        iv = store.get_intervention(iid)
        if iv["applied_at"] is not None:
            continue
        req = control.Request(iv["kind"], json.loads(iv["args"]), iv["reason"], iv["who"])
        target = control.StoredTask(store, store.get_task(task_id), lambda kind, tid: None)
        try:
            outcome, message = "applied", control.apply(target, req)
        except AgencyError as exc:
            outcome, message = "rejected", str(exc)
        except Exception as exc:  # a row we cannot apply must still be answered
            log.exception("queued intervention %s failed", iid)
            outcome, message = "rejected", f"engine error: {exc}"
        store.finish_intervention(iid, task_id, outcome, message)
        log.info("task %s: applied the %s queued before the engine restarted (%s: %s)",
                 task_id, iv["kind"], outcome, message)
        done.append((iid, outcome, message))
    return done

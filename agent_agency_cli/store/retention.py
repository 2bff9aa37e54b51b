"""Retention of archived tasks' history: their metric samples and events, dropped after a while.

An archived task keeps its rows in `tasks` and `steps` (status, times, metric
summaries, gate results, reviews: what `task status` and `task result` show) and
its workspace and metadata in the archive; the per-second metric samples and
the event log are what grows without bound, so those go once the task finished
longer ago than `task_execution.monitoring.metrics_retention`.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_agency_cli.store.access import Store

# Archived (and not restored since) tasks that finished before the cut-off.
_OLD_ARCHIVED = "SELECT id FROM tasks WHERE archived_at IS NOT NULL AND finished_at IS NOT NULL AND finished_at < ?"


@dataclass(frozen=True)
class Pruned:
    """What one prune removed."""

    tasks: int  # archived tasks whose history was (still) there
    metric_samples: int
    events: int


def prune_archived_history(store: Store, finished_before: float) -> Pruned:
    """Delete the metric samples and events of archived tasks that finished before `finished_before`.

    One transaction: a reader sees either all of a task's history or none of it.
    Tasks not archived, or restored since, keep everything.
    """
    with store.tx() as conn:
        tasks = conn.execute(
            f"SELECT COUNT(*) FROM ({_OLD_ARCHIVED}) AS old"
            " WHERE EXISTS (SELECT 1 FROM events WHERE task_id = old.id)"
            " OR EXISTS (SELECT 1 FROM step_metrics WHERE task_id = old.id)",
            (finished_before,),
        ).fetchone()[0]
        samples = conn.execute(f"DELETE FROM step_metrics WHERE task_id IN ({_OLD_ARCHIVED})",
                               (finished_before,)).rowcount
        events = conn.execute(f"DELETE FROM events WHERE task_id IN ({_OLD_ARCHIVED})", (finished_before,)).rowcount
    return Pruned(tasks=tasks, metric_samples=samples, events=events)

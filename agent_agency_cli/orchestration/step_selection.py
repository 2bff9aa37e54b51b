"""Which steps a status shows: every one, a page, or a summary of the notable ones.

A person at a terminal reads a screenful, not 10,000 rows: `task status` shows every
step of a small task and, beyond AUTO_ALL_MAX steps, the counts per status with the
steps that run, wait or failed (the summary); `--steps` (with `--limit/--offset`)
gives the table; `--json` follows the same rule (its `steps_shown` says which; scripts
that need every step of a big task ask for `--steps`). The SDK's `get_status` returns
every step unless asked for less. Only
the rows shown are read and built; counts and the ETA's columns come from lighter
queries (store/step_pages.py).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from agent_agency_cli.errors import BadInputError
from agent_agency_cli.store.step_pages import notable, notable_count, page, status_counts, timing_rows

SELECTIONS = ("all", "summary", "auto")
# "auto" shows every step of a task up to this many, else the summary.
AUTO_ALL_MAX = 50
# A summary shows at most this many notable steps (the counts tell the rest).
SUMMARY_MAX = 50


@dataclass(frozen=True)
class ChosenSteps:
    """The step rows to show; `counts`/`timing` describe the whole task when the rows are a part
    (None when the rows are every step); `shown` is the status JSON's `steps_shown`."""

    rows: list[sqlite3.Row]
    counts: dict[str, int] | None
    timing: list[sqlite3.Row] | None
    shown: dict[str, Any]


def select_steps(store: Any, task_id: str, how: str = "all", offset: int = 0,
                 limit: int | None = None) -> ChosenSteps:
    """The steps of `task_id` that `how` selects (see the module docstring)."""
    if how not in SELECTIONS:
        raise BadInputError(f"unknown step selection {how!r} (one of: {', '.join(SELECTIONS)})")
    if offset < 0 or (limit is not None and limit < 0):
        raise BadInputError("a page of steps needs --offset and --limit of 0 or more")
    if how != "all" and (offset or limit is not None):
        raise BadInputError("--limit and --offset page the full steps table: use them with --steps, "
                            "not with --summary")
    if how == "all" and not offset and limit is None:
        rows = store.get_steps(task_id)
        return ChosenSteps(rows, None, None, _shown("all", 0, len(rows), len(rows)))
    counts = status_counts(store, task_id)
    total = sum(counts.values())
    if how == "auto" and total <= AUTO_ALL_MAX:
        rows = store.get_steps(task_id)
        return ChosenSteps(rows, None, None, _shown("all", 0, len(rows), len(rows)))
    timing = timing_rows(store, task_id)
    if how == "all":
        rows = page(store, task_id, offset, limit)
        return ChosenSteps(rows, counts, timing, _shown("page", offset, len(rows), total))
    rows = notable(store, task_id, SUMMARY_MAX)
    matching = notable_count(store, task_id) if len(rows) >= SUMMARY_MAX else len(rows)
    return ChosenSteps(rows, counts, timing, {**_shown("summary", 0, len(rows), total), "notable": matching})


def _shown(selection: str, offset: int, count: int, total: int) -> dict[str, Any]:
    return {"selection": selection, "offset": offset, "count": count, "total": total}

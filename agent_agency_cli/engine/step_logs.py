"""A task's step logs as people read them (`task logs`, the TUI's log pane).

The engine writes a log file only when a step printed something or failed (a quiet
step that succeeds costs no file). What a reader needs of every step regardless
(its command, when it started, when it ended and how) is in the steps table, so
those lines are added here, at read time, from the step's row:

    <started_at> sys| $ <command>          (when the file has no command line)
    <finished_at> sys| exit 0 · completed in 0.1s
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterator
from typing import Any

from agent_agency_cli.errors import AgencyError, NotFoundError
from agent_agency_cli.executors.base import log_timestamp, parse_log_line
from agent_agency_cli.executors.registry import step_command
from agent_agency_cli.rows import StepSpec
from agent_agency_cli.units import format_duration

LogLine = tuple[str, str, str, str]  # (timestamp, step, stream, text)
_FINISHED = {"completed", "failed", "skipped", "cancelled", "interrupted"}


def log_lines(store: Any, paths: Any, tid: str, step: str | None = None) -> Iterator[LogLine]:
    """(timestamp, step, stream, text) of the task's logs, in time order, every step with
    its command, start, end and exit."""
    rows = store.get_steps(tid)
    names = [r["name"] for r in rows]
    if step is not None and step not in names:
        raise NotFoundError(f"task {tid} has no step named {step!r} (steps: {', '.join(names[:10])})")
    chosen = [r for r in rows if step is None or r["name"] == step]
    yield from heapq.merge(*(_step_lines(paths, tid, r) for r in chosen), key=lambda t: t[0])


def _step_lines(paths: Any, tid: str, row: sqlite3.Row) -> list[LogLine]:
    # Sorted per step (stable): the added start line may precede a file's retry lines.
    return sorted(_unsorted_lines(paths, tid, row), key=lambda t: t[0])


def _unsorted_lines(paths: Any, tid: str, row: sqlite3.Row) -> Iterator[LogLine]:
    name = row["name"]
    path = paths.step_log(tid, name)
    has_command = False
    if path.exists():
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                ts, stream, text = parse_log_line(line)
                if stream == "sys" and text.startswith(("$ ", "python ")):
                    has_command = True
                yield ts, name, stream, text
    # The command line is added for a step that ran (it has an exit code); one refused
    # before it ran (an open breaker) has none, and its log says why instead.
    if row["started_at"] is not None and not has_command and row["exit_code"] is not None:
        yield log_timestamp(row["started_at"]), name, "sys", _command_line(row)
    end = ending(row)
    if end is not None:
        yield end


def _command_line(row: sqlite3.Row) -> str:
    try:
        command = step_command(row["kind"], StepSpec.from_json(row["spec"]))
    except (AgencyError, ValueError, KeyError):
        command = None
    if isinstance(command, list):
        command = " ".join(str(c) for c in command)
    text = str(command or row["kind"]).strip().replace("\n", " ⏎ ")
    return f"$ {text}" if row["kind"] == "shell" else text


def ending(row: sqlite3.Row) -> LogLine | None:
    """The closing line of a finished step: its exit and outcome (None while it runs)."""
    status = row["status"]
    if status not in _FINISHED or row["finished_at"] is None:
        return None
    parts = []
    if row["exit_code"] is not None:
        parts.append(f"exit {row['exit_code']}")
    took = f" in {format_duration(row['duration'])}" if row["duration"] is not None else ""
    parts.append(f"{status}{took}")
    if status != "completed" and row["reason"]:
        parts.append(str(row["reason"]))
    return log_timestamp(row["finished_at"]), row["name"], "sys", " · ".join(parts)

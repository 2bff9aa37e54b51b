"""The bodies of the frequent task commands (status, list, pause, resume, cancel).

Free of Typer so that two faces share them: the Typer commands in task_cmd.py and the
fast path (cli/fast.py), which answers the same argv without building the Typer app.
Errors propagate as AgencyError; each face turns them into its one line and exit code.
Output goes to stdout (JSON, tables) and stderr (confirmations), as every command does.
"""

from __future__ import annotations

import sys

from agent_agency_cli.cli.common import is_tty, orchestrator, print_json

# The defaults of both faces (the Typer options and the fast path).
DEFAULT_LIST_LIMIT = 50
DEFAULT_CANCEL_REASON = "cancelled by user"


def show_status(task_id: str, verbose: bool, as_json: bool) -> None:
    """`task status`: JSON, a Rich view on a terminal, plain lines otherwise."""
    data = orchestrator().get_status(task_id, interventions=verbose or as_json)
    if as_json:
        print_json(data)
        return
    if is_tty():
        from agent_agency_cli.cli.render import render_status

        render_status(data, verbose)
        return
    from agent_agency_cli.cli.plain import status_lines

    _write_lines(status_lines(data, verbose))


def show_list(status: list[str] | None, limit: int, as_json: bool) -> None:
    """`task list`: newest first; `limit` 0 means all."""
    tasks = orchestrator().list_tasks(status or None, limit or None)
    if as_json:
        print_json(tasks)
        return
    if is_tty():
        from agent_agency_cli.cli.render import render_list

        render_list(tasks)
        return
    from agent_agency_cli.cli.plain import list_lines

    if not tasks:
        _done("no tasks")  # on stderr: a pipe gets rows only
    _write_lines(list_lines(tasks))


def pause(task_id: str) -> None:
    _done(orchestrator().pause(task_id))


def resume(task_id: str) -> None:
    _done(orchestrator().resume(task_id))


def cancel(task_id: str, reason: str) -> None:
    _done(orchestrator().cancel(task_id, reason))


def _done(message: str) -> None:
    print(message, file=sys.stderr)


def _write_lines(lines: list[str]) -> None:
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()

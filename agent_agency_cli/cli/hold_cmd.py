"""`agent-agency-cli task release ID`: let a task created with `task create --hold` run."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from agent_agency_cli.cli.common import handle_errors, orchestrator, print_json


def register(app: typer.Typer) -> None:
    @app.command("release")
    @handle_errors
    def release(
        task_id: Annotated[str, typer.Argument(metavar="TASK_ID", help="Task id or an unambiguous prefix of it.")],
        no_start: Annotated[bool, typer.Option("--no-start", help="Do not start the daemon.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    ) -> None:
        """Release a held task (created with --hold): the daemon may run it now; a held
        dry run is simulated now and its report printed.

        Exits 5 when the task is not held, 3 when there is no such task.
        """
        orch = orchestrator()
        tid = orch.release_task(task_id, start_daemon=not no_start)
        status = orch.get_status(tid)
        if as_json:
            print_json({k: v for k, v in status.items() if k != "steps"})
        elif status["mode"] == "dry-run":  # simulated now, as `task create` does without --hold
            from agent_agency_cli.cli.render import render_impact  # lazy: keeps start-up light

            print(f"released task {tid}: simulated (dry run), nothing ran", file=sys.stderr)
            render_impact(orch.impact_report(tid))
        else:
            print(f"released task {tid} (queued for the daemon)", file=sys.stderr)

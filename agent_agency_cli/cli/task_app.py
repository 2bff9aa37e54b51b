"""The `task` sub-app and the option types its command modules share.

The commands live in `task_cmd.py` (create, read, follow), `task_control_cmd.py`
(interventions) and `task_storage_cmd.py` (archive, restore, purge, metrics); each
registers on this one Typer app.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Create, inspect, follow and steer tasks.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
NoStartOpt = Annotated[bool, typer.Option("--no-start", help="If the engine running a task is gone, "
                                          "only say so; do not start a daemon to recover it.")]
IdArg = Annotated[str, typer.Argument(metavar="TASK_ID", help="Task id or an unambiguous prefix of it.")]

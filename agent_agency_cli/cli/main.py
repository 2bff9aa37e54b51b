"""Entry point: `agent-agency-cli [--home DIR] [--config FILE] COMMAND ...`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from agent_agency_cli import __version__
from agent_agency_cli.cli import (
    daemon_cmd,
    learning_cmd,
    resources_cmd,
    schema_cmd,
    serve_cmd,
    task_cmd,
    tools_cmd,
)
from agent_agency_cli.cli.common import fail, state
from agent_agency_cli.cli.help_format import PlainHelpGroup

app = typer.Typer(
    name="agent-agency-cli",
    cls=PlainHelpGroup,  # TASK_ID, choices and no `<bool>` in every command's --help
    help="Run agent tasks end to end: validate, plan into a DAG, execute with live "
    "control. State lives in SQLite under the data home.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(task_cmd.app, name="task")
app.add_typer(daemon_cmd.app, name="daemon")
app.add_typer(resources_cmd.workers_app, name="workers")
app.add_typer(resources_cmd.breakers_app, name="breakers")
app.add_typer(tools_cmd.app, name="tools")
app.add_typer(learning_cmd.app, name="learning")
serve_cmd.register(app)
schema_cmd.register(app)


def _version(value: bool) -> None:
    if value:

        print(f"agent-agency-cli {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    home: Annotated[
        str | None,
        typer.Option("--home", envvar="AGENT_AGENCY_HOME", metavar="DIR", help="Data home (database, logs, "
                     "workspaces). Default: $AGENT_AGENCY_HOME or the platform data dir."),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", envvar="AGENT_AGENCY_CONFIG", metavar="FILE",
                     help="Config YAML. Default: $AGENT_AGENCY_CONFIG or config.yaml in the "
                     "data home."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True,
                           help="Print the version and exit.")
    ] = False,
) -> None:
    if config is not None and not os.path.isfile(config):
        # Checked here, not when settings load: read commands never load them, and a typo
        # must not fall back to the defaults silently.
        source = "$AGENT_AGENCY_CONFIG" if config == os.environ.get("AGENT_AGENCY_CONFIG") else "--config"
        raise fail(f"config file {config} not found (given by {source}); give an existing file or "
                   "leave it out for config.yaml in the data home", 2)
    state.home = home
    state.config = config


@app.command()
def dashboard() -> None:
    """All tasks, live, in a terminal UI: Enter opens a task, / filters, q quits.

    The same as `task watch` without an id. Quitting never affects a task.
    """

    from agent_agency_cli.cli.common import fail, handle_errors, is_tty, orchestrator  # lazy: keeps start-up light

    @handle_errors
    def run() -> None:
        if not (is_tty() and sys.stdin.isatty()):
            raise fail("dashboard needs a terminal (for scripts: agent-agency-cli task list "
                       "--json)", 2)
        from agent_agency_cli.tui.app import run_tui  # lazy: keeps start-up light

        run_tui(orchestrator())

    run()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

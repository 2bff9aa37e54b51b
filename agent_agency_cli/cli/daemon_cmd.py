"""`agent-agency-cli daemon start|stop|status`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from agent_agency_cli.cli.common import fail, handle_errors, orchestrator, print_json

app = typer.Typer(help="The background engine that claims and runs queued tasks.",
                  no_args_is_help=True)


@app.command()
@handle_errors
def start(
    foreground: Annotated[bool, typer.Option("--foreground", help="Run in this terminal "
                                             "(Ctrl-C stops it).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the daemon info as JSON.")] = False,
) -> None:
    """Start the daemon (detached) if it is not running."""
    orch = orchestrator()
    orch.settings  # a bad config is bad input here, not a daemon that dies at start  # noqa: B018
    if foreground:
        from agent_agency_cli.engine import daemon  # lazy: keeps start-up light

        args = ["--home", str(orch.home)]
        if orch.config_path:
            args += ["--config", orch.config_path]
        raise typer.Exit(daemon.main(args))
    before = orch.daemon_status()
    if before is not None and orch.config_path is not None:
        _refuse_other_config(orch, before)
    info = orch.ensure_daemon()
    status = orch.daemon_status() or info
    if as_json:
        print_json({**status, "already_running": before is not None})
    elif before:
        print(f"daemon already running (pid {info['pid']})", file=sys.stderr)
    else:
        print(f"daemon started (pid {info['pid']}, log {info['log']})", file=sys.stderr)


def _refuse_other_config(orch, running: dict) -> None:  # type: ignore[no-untyped-def]
    """A daemon already runs with other settings than the --config given now: say so (exit 5)
    rather than report "already running" while the given file is silently ignored."""

    def real(path: str | None) -> str | None:
        if path is None:  # the daemon's default: config.yaml in the data home, if any
            default = os.path.join(str(orch.home), "config.yaml")
            return os.path.realpath(default) if os.path.isfile(default) else None
        return os.path.realpath(path)

    if real(orch.config_path) != real(running.get("config")):
        theirs = running.get("config") or "the default config"
        raise fail(f"a daemon (pid {running['pid']}) already runs with {theirs}, not {orch.config_path}; "
                   f"to use it: agent-agency-cli daemon stop && agent-agency-cli --config "
                   f"{orch.config_path} daemon start", 5)


@app.command()
@handle_errors
def stop(
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for it to exit.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
) -> None:
    """Stop the daemon: nothing new starts, running steps may finish (up to
    daemon.stop_timeout), their tasks go back to the queue for the next daemon."""
    orch = orchestrator()
    running = orch.daemon_status()
    if as_json:
        info = orch.stop_daemon(timeout)
        print_json({"stopped": info is not None, "pid": info["pid"] if info else None,
                    "running_tasks": (running or {}).get("running_tasks") or []})
        return
    if running is not None:
        tasks = running.get("running_tasks") or []
        if tasks:
            # Say what the wait is for: it can take the daemon's stop_timeout (30 s by default).
            print(f"stopping daemon {running['pid']}: waiting for the running steps of "
                  f"task{'s' if len(tasks) > 1 else ''} {', '.join(tasks)} to finish (at most its "
                  "daemon.stop_timeout); steps still running then are interrupted and their tasks go "
                  "back to the queue", file=sys.stderr, flush=True)
        else:
            print(f"stopping daemon {running['pid']} (no task running)", file=sys.stderr, flush=True)
    info = orch.stop_daemon(timeout)
    if info is None:
        print("no daemon is running", file=sys.stderr)
    else:
        print(f"daemon {info['pid']} stopped", file=sys.stderr)


@app.command()
@handle_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show whether the daemon runs: pid, uptime, running tasks. Exit 3 if not running."""
    from agent_agency_cli.units import format_duration  # lazy: keeps start-up light

    info = orchestrator().daemon_status()
    if as_json:
        print_json({"running": True, **info} if info else {"running": False})
        if info is None:
            raise typer.Exit(3)
        return
    if info is None:
        raise fail("no daemon is running (start one with: agent-agency-cli daemon start)", 3)
    from agent_agency_cli.backends import describe  # lazy: keeps start-up light

    tasks = ", ".join(info["running_tasks"]) or "none"
    print(f"running  pid {info['pid']}  up {format_duration(info['uptime'])}  "
          f"tasks: {tasks}\nlog: {info['log']}")
    if info.get("execution"):
        print(f"backend: {describe(info['execution'])}")

"""`agent-agency-cli workers list` and `agent-agency-cli breakers list|reset`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from agent_agency_cli.cli.common import handle_errors, orchestrator, print_json

workers_app = typer.Typer(help="The workers that run steps (from the config, or this machine).",
                          no_args_is_help=True)
breakers_app = typer.Typer(help="Circuit breakers per executor target (command binary, module).",
                           no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


@workers_app.command("list")
@handle_errors
def workers_list(as_json: JsonOpt = False) -> None:
    """Workers (the Ray nodes with the ray backend), capabilities, resources total/used, running steps."""
    workers = orchestrator().workers()
    if as_json:
        print_json(workers)
        return
    from rich.table import Table  # lazy: keeps start-up light

    from agent_agency_cli.cli.render import console  # lazy: keeps start-up light

    if workers and workers[0].get("backend"):
        backend = workers[0]["backend"]
        cpus = sum(w["total"]["cpu_cores"] for w in workers)
        gpus = sum(w["total"]["gpus"] for w in workers)
        noun = "node" if backend == "ray" else "worker"
        print(f"backend {backend}: {len(workers)} {noun}{'s' if len(workers) != 1 else ''}, "
              f"{cpus:g} CPUs, {gpus:g} GPUs")
    t = Table(box=None, pad_edge=False, header_style="bold dim")
    for col in ("worker", "capabilities", "cpu used/total", "memory used/total", "gpus", "running"):
        t.add_column(col, overflow="fold")
    for w in workers:
        tot, used = w["total"], w["used"]
        gpus = ", ".join(f"{g['name']} {g['memory_total_mb']} MiB" for g in w["gpu_devices"]) or str(tot["gpus"])
        t.add_row(w["id"], ", ".join(w["capabilities"]), f"{used['cpu_cores']:g}/{tot['cpu_cores']:g}",
                  f"{used['memory_mb']}/{tot['memory_mb']} MiB", gpus, ", ".join(w["running"]) or "-")
    console().print(t)


@breakers_app.command("list")
@handle_errors
def breakers_list(as_json: JsonOpt = False) -> None:
    """Every circuit breaker: state, recent failures, when it may be tried again."""
    rows = orchestrator().breakers()
    if as_json:
        print_json(rows)
        return
    from rich.table import Table  # lazy: keeps start-up light

    from agent_agency_cli.cli.render import console  # lazy: keeps start-up light

    if not rows:
        console().print("no circuit breakers yet (one appears when a command first runs)", style="dim")
        return
    t = Table(box=None, pad_edge=False, header_style="bold dim")
    for col in ("name", "state", "failures", "opened", "retry at"):
        t.add_column(col)
    for b in rows:
        t.add_row(b["name"], b["state"], str(b["failures"]), b.get("opened_at") or "-", b.get("retry_at") or "-")
    console().print(t)
    console().print(BREAKER_SCOPE, style="dim")


BREAKER_SCOPE = ("A breaker guards a dependency, named by it: a command's program, a Python step's module, a "
                 "model endpoint, an MCP server. A call that cannot start and a timeout count as its "
                 "failures; a step's own non-zero exit does not (that is the step's failure).")


@breakers_app.command("reset")
@handle_errors
def breakers_reset(
    name: Annotated[str, typer.Argument(metavar="BREAKER", help="The breaker's name (see breakers list).")],
    as_json: JsonOpt = False,
) -> None:
    """Close a breaker by hand and forget its failures."""

    message = orchestrator().reset_breaker(name)
    if as_json:
        print_json({"breaker": name, "state": "closed", "message": message})
    else:
        print(message, file=sys.stderr)

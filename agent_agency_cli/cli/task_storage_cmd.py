"""`agent-agency-cli task archive|restore|purge|metrics`: finished tasks and their figures."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from agent_agency_cli.cli.common import handle_errors, orchestrator, print_json
from agent_agency_cli.cli.task_app import IdArg, JsonOpt, app


def _done(message: str) -> None:
    print(message, file=sys.stderr)


@app.command()
@handle_errors
def archive(task_id: IdArg, as_json: JsonOpt = False) -> None:
    """Pack a finished task's workspace and logs into the archive (metadata stays queryable)."""
    info = orchestrator().archive(task_id)
    if as_json:
        print_json(info)
    else:
        _done(f"archived to {info['path']} ({info['files']} files, {info['size']} bytes)")


@app.command()
@handle_errors
def restore(task_id: IdArg, as_json: JsonOpt = False) -> None:
    """Unpack an archived task's workspace and logs (the archive is kept)."""
    info = orchestrator().restore(task_id)
    if as_json:
        print_json(info)
    else:
        _done(f"restored {info['files']} files into {info['task_dir']}")


@app.command()
@handle_errors
def purge(
    older_than: Annotated[str, typer.Option("--older-than", help="Archive finished tasks older "
                                            "than this (30d, 12h).")] = "30d",
    as_json: JsonOpt = False,
) -> None:
    """Archive every finished task older than --older-than."""
    done, errors = orchestrator().purge(older_than)
    if as_json:
        print_json({"archived": done, "errors": errors})
    else:
        _done(f"archived {len(done)} task(s)" + (f"; {len(errors)} refused:" if errors else ""))
        for e in errors:
            _done(f"  {e}")


@app.command()
@handle_errors
def metrics(
    task_id: IdArg,
    step: Annotated[str | None, typer.Option("--step", "-s", help="Only this step (with its samples).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Per-step CPU, memory, I/O and GPU figures, and the task's aggregate metrics."""
    data = orchestrator().step_metrics(task_id, step)
    if as_json:
        print_json(data)
        return
    from rich.table import Table  # lazy: keeps start-up light

    from agent_agency_cli.cli.render import console  # lazy: keeps start-up light
    from agent_agency_cli.units import format_duration  # lazy: keeps start-up light

    t = Table(box=None, pad_edge=False, header_style="bold dim")
    for col in ("step", "status", "worker", "time", "cpu mean/max %", "peak rss", "read/write", "threads",
                "samples"):
        t.add_column(col, justify="left" if col in ("step", "status", "worker") else "right",
                     overflow="fold" if col == "worker" else "ellipsis")
    for s in data["steps"]:
        m = s["summary"] or {}

        def mib(v: object) -> str:
            return f"{v / 1048576:.1f} MiB" if isinstance(v, int | float) else "-"

        t.add_row(s["name"], s["status"], s["worker"] or "-", format_duration(s["duration"]),
                  f"{m.get('cpu_percent_mean') or 0:.0f}/{m.get('cpu_percent_max') or 0:.0f}" if m else "-",
                  mib(m.get("rss_peak_bytes")), f"{mib(m.get('read_bytes'))}/{mib(m.get('write_bytes'))}",
                  str(m.get("threads_max", "-")), str(m.get("samples", len(s["samples"]))))
    out = console()
    out.print(t)
    task = data["task"]
    out.print(f"task: {format_duration(task.get('duration'))}, cpu {task.get('cpu_usage_percent') or 0:.0f}%, "
              f"peak memory {task.get('memory_usage_mb') or 0:.0f} MiB, retries {task.get('retry_count')}, "
              f"errors {task.get('error_count')}")
    if task.get("model_calls"):
        from agent_agency_cli.cli.model_render import money  # lazy: keeps start-up light

        out.print(f"model calls: {task['model_calls']}, cost {money(task.get('model_cost'))}", highlight=False)


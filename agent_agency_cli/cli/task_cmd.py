"""`agent-agency-cli task ...`: create, inspect, follow and steer tasks."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from agent_agency_cli.cli import task_actions
from agent_agency_cli.cli.choices import (
    COMPLEXITIES,
    MODES,
    PRIORITIES,
    TASK_STATUSES,
    complete,
    metavar,
)
from agent_agency_cli.cli.common import (
    fail,
    handle_errors,
    is_tty,
    orchestrator,
    print_json,
    print_json_line,
    state,
)
from agent_agency_cli.cli.task_app import IdArg, JsonOpt, NoStartOpt, app
from agent_agency_cli.cli.task_support import refuse_archived_logs


def _exit_for(status: dict) -> int:
    from agent_agency_cli.models import TaskStatus  # lazy: keeps start-up light

    code = TaskStatus(status["status"]).exit_code
    return 0 if code is None else code


@app.command()
@handle_errors
def create(
    plan: Annotated[list[str] | None, typer.Option("--plan", "-p", metavar="FILE", help="Plan file (YAML) "
                                                   "listing the steps. Required unless --description is "
                                                   "given for the planner to plan. Several --plan, or a "
                                                   "directory of plan files, create one task each.")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d",
                                                    help="What the task is for.")] = None,
    mode: Annotated[str | None, typer.Option(metavar=metavar(MODES), autocompletion=complete(MODES),
                                             help="How steps run (default from config: "
                                             "task_execution.default_mode).")] = None,
    priority: Annotated[str, typer.Option(metavar=metavar(PRIORITIES), autocompletion=complete(PRIORITIES),
                                          help="Queue order against other tasks.")] = task_actions.DEFAULT_PRIORITY,
    requirements: Annotated[str | None, typer.Option(help="Comma-separated requirements, e.g. "
                                                     "'tests pass,no lint errors'.")] = None,
    deadline: Annotated[str | None, typer.Option(help="ISO-8601 (2026-12-31, "
                                                 "2026-12-31T18:00Z) or relative (30m, 2h, 1d).")
                        ] = None,
    stakeholders: Annotated[str | None, typer.Option(help="Comma-separated names of who is told "
                                                     "about the task, e.g. 'security_team,ops'.")] = None,
    workdir: Annotated[str | None, typer.Option(help="Default working directory of the steps "
                                                "(else the task's own workspace).")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Max steps running at once "
                                                    "(default: plan, then config).")] = None,
    complexity: Annotated[str | None, typer.Option(metavar=metavar(COMPLEXITIES),
                                                   autocompletion=complete(COMPLEXITIES),
                                                   help="The default resources and timeout of steps "
                                                   "that declare none (config resource_allocation).")
                          ] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Follow the task and exit with "
                                       "its exit code.")] = False,
    foreground: Annotated[bool, typer.Option("--foreground", help="Run the task in this "
                                             "process, without the daemon.")] = False,
    no_start: Annotated[bool, typer.Option("--no-start", help="Only queue it; do not start "
                                           "the daemon.")] = False,
    hold: Annotated[bool, typer.Option("--hold", help="Store it held: no daemon runs it (nor is a "
                                       "dry run simulated) until `task release ID`.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate a plan, store it as a queued task and hand it to the engine.

    Prints the task id (or a JSON object with --json). Bad input exits 2 and
    stores nothing.
    """
    plans = plan or []
    if task_actions.is_batch(plans):
        from agent_agency_cli.errors import BadInputError  # lazy: keeps start-up light

        if wait or foreground or hold:
            raise BadInputError("several plans go with neither --wait, --foreground nor --hold "
                                "(create them one by one for that)")
        raise typer.Exit(task_actions.submit_batch(
            plans=plans, description=description, mode=mode, priority=priority, requirements=requirements,
            deadline=deadline, stakeholders=stakeholders, workdir=workdir, concurrency=concurrency,
            complexity=complexity, no_start=no_start, as_json=as_json))
    orch, tid = task_actions.submit(
        plan=plans[0] if plans else None, description=description, mode=mode, priority=priority,
        requirements=requirements,
        deadline=deadline, stakeholders=stakeholders, workdir=workdir, concurrency=concurrency,
        complexity=complexity, foreground=foreground, no_start=no_start, wait=wait, as_json=as_json,
        hold=hold,
    )
    if tid is None:
        return  # a dry run: its report is printed
    if foreground:
        from agent_agency_cli.cli.follow import follow_in_thread  # lazy: keeps start-up light
        from agent_agency_cli.errors import EXIT_INTERRUPTED  # lazy: keeps start-up light
        from agent_agency_cli.orchestrator import TaskOrchestrator  # lazy: keeps start-up light

        follower = None
        if not as_json:
            follower = follow_in_thread(
                lambda: TaskOrchestrator(home=state.home, config=state.config), tid,
                live=is_tty() and sys.stderr.isatty())
        orch.run_foreground(tid)
        if follower is not None:
            follower.join(timeout=5)
        final = orch.get_status(tid)
        if as_json:
            print_json(final)
        if final["status"] == "cancelled" and (final["reason"] or "").startswith("interrupted"):
            raise typer.Exit(EXIT_INTERRUPTED)
        raise typer.Exit(_exit_for(final))
    if wait:
        _wait(orch, tid, as_json)


def _wait(orch, tid: str, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from agent_agency_cli.cli.follow import follow  # lazy: keeps start-up light

    try:
        final = follow(orch, tid, live=is_tty() and not as_json)
    except KeyboardInterrupt:
        print(f"\nstopped following; task {tid} keeps running "
              f"(agent-agency-cli task watch {tid} --plain)", file=sys.stderr)
        raise typer.Exit(130) from None
    if as_json:
        print_json(final)
    elif final["reason"]:
        print(f"task {tid} {final['status']}: {final['reason']}", file=sys.stderr)
    else:
        print(f"task {tid} {final['status']}", file=sys.stderr)
    raise typer.Exit(_exit_for(final))


@app.command("list")
@handle_errors
def list_(
    status: Annotated[list[str] | None, typer.Option("--status", "-s", metavar="STATUS",
                                                     autocompletion=complete(TASK_STATUSES),
                                                     help="Only tasks in this status (repeatable): "
                                                     + ", ".join(TASK_STATUSES) + ".")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first); 0 = all.")
                     ] = task_actions.DEFAULT_LIST_LIMIT,
    search: Annotated[str | None, typer.Option("--search", "-q", metavar="TEXT", help="Only tasks "
                                               "whose id or description contains TEXT (any case).")
                      ] = None,
    no_start: NoStartOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List tasks, newest first."""
    task_actions.show_list(status, limit, as_json, search, no_start)



@app.command()
@handle_errors
def status(
    task_id: IdArg,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Add the plan, requirements, "
                                          "timestamps and the audit trail.")] = False,
    steps: Annotated[bool, typer.Option("--steps", help="Every step, however many (without it a task of "
                                        "more than 50 steps shows counts and its notable steps).")] = False,
    summary: Annotated[bool, typer.Option("--summary", help="Counts per status and only the steps that run, "
                                          "wait or failed (also with --json).")] = False,
    limit: Annotated[int | None, typer.Option(help="A page of the steps table: at most this many "
                                              "(0 = all).", show_default=False)] = None,
    offset: Annotated[int | None, typer.Option(help="A page of the steps table: from this plan position "
                                               "(0 = the first step).", show_default=False)] = None,
    no_start: NoStartOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Show a task: status, progress, elapsed, ETA, deadline and its steps (all, a page or a summary)."""
    task_actions.show_status(task_id, verbose, as_json, no_start, steps=steps, summary=summary, limit=limit,
                             offset=offset)


@app.command()
@handle_errors
def result(task_id: IdArg, as_json: JsonOpt = False) -> None:
    """The task's result: final status, per-step outcomes, metrics. Exit code = the task's."""
    orch = orchestrator()
    res = orch.result(task_id)
    if as_json:
        print_json(res)
    else:
        from rich.text import Text  # lazy: keeps start-up light

        from agent_agency_cli.cli.render import console, status_text  # lazy: keeps start-up light
        from agent_agency_cli.units import format_duration  # lazy: keeps start-up light

        out = console()
        out.print(status_text(res["status"]), f" task {res['task_id']}",
                  f" in {format_duration(res['duration'])}" if res["duration"] else "")
        from agent_agency_cli.security.terminal import strip_value  # lazy: keeps start-up light

        res = strip_value(res)
        if res["reason"]:
            out.print(f"reason: {res['reason']}")

        from agent_agency_cli.cli.render import completion_lines, gate_lines, gate_summary  # lazy: keeps start-up light

        by_step: dict[str, list] = {}
        for g in res["gates"]:
            by_step.setdefault(g["step"], []).append(g)
        for s in res["steps"]:
            failed_gate = s["status"] == "completed" and any(
                g["status"] not in ("passed", "skipped") for g in by_step.get(s["name"], []))
            out.print("  ", Text("◐ completed, gate failed", style="yellow") if failed_gate
                      else status_text(s["status"]), f" {s['name']}",
                      f"  {format_duration(s['duration'])}" if s["duration"] else "",
                      # a step's return value as JSON, as --json has it (not a Python repr)
                      f"  → {json.dumps(s['result'], default=str)}" if s["result"] is not None else "",
                      f"  gates: {gate_summary(by_step[s['name']])}" if by_step.get(s["name"]) else "")
        if res["gates"]:
            out.print("gates:")
            for line in gate_lines(res["gates"]):
                out.print(line, overflow="ignore", crop=False)
        for line in completion_lines(res["status"], {"gaps": res["gaps"]}):
            out.print(line)
        scores = {k: v for k, v in res["scores"].items() if v is not None}
        if scores:
            out.print("scores: " + ", ".join(f"{k} {v}" for k, v in scores.items()))
        from agent_agency_cli.cli.model_render import model_lines  # lazy: keeps start-up light

        for line in model_lines(res):
            out.print(line, highlight=False, markup=False, soft_wrap=True)
        out.print(f"workspace: {res['workspace']}")
    if not res["finished"]:
        raise fail(f"task {res['task_id']} has not finished (it is {res['status']})", 5)
    raise typer.Exit(_exit_for(res))


@app.command()
@handle_errors
def logs(
    task_id: IdArg,
    step: Annotated[str | None, typer.Option("--step", "-s", help="Only this step.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines "
                                         "until the task finishes.")] = False,
    timestamps: Annotated[bool, typer.Option("--timestamps", "-t", help="Show each line's "
                                             "UTC time.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Print the output as the step wrote it, "
                                      "terminal control sequences included.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print step logs in the order lines were written (all steps merged by time).

    Terminal control sequences in the output (colours, screen clears, title or
    clipboard writes) are removed unless --raw."""
    from agent_agency_cli.security.terminal import strip_controls  # lazy: keeps start-up light

    orch = orchestrator()
    tid = orch.resolve(task_id)
    refuse_archived_logs(orch, tid)
    multi = step is None

    def emit(ts: str, name: str, stream: str, text: str) -> None:
        if as_json:
            print_json_line({"ts": ts, "step": name, "stream": stream, "text": text})
            return
        if not raw:
            text = strip_controls(text)
        prefix = f"{ts} " if timestamps else ""
        if multi:
            prefix += f"[{name}] "
        if stream == "sys":
            prefix += "# "
        elif stream == "err":
            prefix += "! "
        sys.stdout.write(f"{prefix}{text}\n")

    if not follow:
        for line in orch.readable_log_lines(tid, step):
            emit(*line)
        sys.stdout.flush()
        return
    _follow_logs(orch, tid, step, emit)


def _follow_logs(orch, tid: str, step: str | None, emit) -> None:  # type: ignore[no-untyped-def]
    """Tail the step log files until the task has finished and the files are drained."""
    from agent_agency_cli.executors.base import parse_log_line  # lazy: keeps start-up light

    names = [step] if step else [s["name"] for s in orch.get_status(tid)["steps"]]
    paths = {name: orch.step_log_path(tid, name) for name in names}  # NotFoundError: unknown step
    offsets = dict.fromkeys(names, 0)
    partial = dict.fromkeys(names, "")
    while True:
        finished = orch.get_status(tid)["finished"]
        batch = []
        for name in names:
            try:
                with open(paths[name], encoding="utf-8", errors="replace") as fh:
                    fh.seek(offsets[name])
                    data = fh.read()
                    offsets[name] = fh.tell()
            except FileNotFoundError:
                continue
            data = partial[name] + data
            *lines, partial[name] = data.split("\n")
            for ln in lines:
                ts, stream, text = parse_log_line(ln)
                batch.append((ts, name, stream, text))
        batch.sort(key=lambda t: t[0])
        for item in batch:
            emit(*item)
        sys.stdout.flush()
        if finished and not batch:
            return
        time.sleep(0.2)


@app.command("wait")
@handle_errors
def wait_(
    task_id: IdArg,
    timeout: Annotated[str | None, typer.Option(metavar="DURATION", help="Give up after this long "
                                                "(30s, 5m, 2h): exit 5, the task keeps running.")
                       ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Wait quietly until a task finishes; exit with its exit code (like `pueue wait`).

    Prints the final status (one JSON document with --json); a task waiting for a
    person says what for on stderr."""
    from agent_agency_cli.cli.render import waiting_note  # lazy: keeps start-up light
    from agent_agency_cli.units import parse_duration  # lazy: keeps start-up light

    limit = parse_duration(timeout, "--timeout") if timeout is not None else None
    orch = orchestrator()
    tid = orch.resolve(task_id)
    deadline = None if limit is None else time.monotonic() + limit
    told = None
    while True:
        status = orch.get_status(tid)
        if status["finished"]:
            break
        note = waiting_note(status)
        if note and note != told:
            print(note, file=sys.stderr, flush=True)
            told = note
        if deadline is not None and time.monotonic() >= deadline:
            raise fail(f"task {tid} is still {status['status']} after {timeout}; it keeps running "
                       f"(agent-agency-cli task wait {tid} to wait again)", 5)
        time.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))
    if as_json:
        print_json(status)
    else:
        print(f"task {tid} {status['status']}" + (f": {status['reason']}" if status["reason"] else ""),
              file=sys.stderr)
    raise typer.Exit(_exit_for(status))


@app.command()
@handle_errors
def events(
    task_id: IdArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing events until "
                                         "the task finishes.")] = False,
    after: Annotated[int, typer.Option(help="Only events with an id above this.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """The task's event stream (one JSON object per line with --json)."""
    task_actions.show_events(task_id, follow, after, as_json)


@app.command()
@handle_errors
def watch(
    task_id: Annotated[str | None, typer.Argument(metavar="TASK_ID", help="Task id or an unambiguous prefix of it; "
                                                  "without one, the list of all tasks.")] = None,
    plain: Annotated[bool, typer.Option("--plain", help="Print one line per event (for logs "
                                        "and pipes) instead of the live view.")] = False,
) -> None:
    """Watch and steer a task live in a terminal UI; without an id, all tasks.

    Keys: p pause, r resume, c cancel, a approve, x reject, m modify, l log follow,
    / filter, q quit (quitting never affects the task). With --plain, or when
    stdout is not a terminal, print one line per event until the task finishes
    and exit with the task's exit code.
    """
    orch = orchestrator()
    if not plain and is_tty() and sys.stdin.isatty():
        tid = orch.resolve(task_id) if task_id else None
        from agent_agency_cli.tui.app import run_tui  # lazy: keeps start-up light

        run_tui(orch, tid)
        return
    if task_id is None:
        raise fail("task watch without an id opens the task list, which needs a terminal; "
                   "give a task id (e.g. --plain ID) for one line per event", 2)
    tid = orch.resolve(task_id)
    from agent_agency_cli.cli.follow import follow  # lazy: keeps start-up light

    try:
        final = follow(orch, tid, live=not plain and is_tty(), to_stdout=True)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(_exit_for(final))


# The other command modules register on the same app (imported for that side effect).
from agent_agency_cli.cli import (  # noqa: E402, F401
    plan_cmd,
    task_control_cmd,
    task_storage_cmd,
)

plan_cmd.register(app)

from agent_agency_cli.cli import hold_cmd  # noqa: E402  (registers `task release`)

hold_cmd.register(app)

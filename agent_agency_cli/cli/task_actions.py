"""The bodies of the frequent task commands (create, status, list, pause, resume, cancel).

Free of Typer so that two faces share them: the Typer commands in task_cmd.py and the
fast path (cli/fast.py), which answers the same argv without building the Typer app.
Errors propagate as AgencyError; each face turns them into its one line and exit code.
Output goes to stdout (JSON, tables) and stderr (confirmations), as every command does.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from agent_agency_cli.cli.choices import COMPLEXITIES
from agent_agency_cli.cli.common import is_tty, orchestrator, print_json, print_json_line, write_json_array, write_lines
from agent_agency_cli.cli.submit_output import (
    BatchOutput,
    announce,
    announce_not_started,
    id_document,
    review_line,
    write_warnings,
)

if TYPE_CHECKING:
    from agent_agency_cli.orchestrator import TaskOrchestrator

# The defaults of both faces (the Typer options and the fast path).
DEFAULT_LIST_LIMIT = 50
DEFAULT_CANCEL_REASON = "cancelled by user"
DEFAULT_PRIORITY = "normal"


def submit(
    *, plan: str | None, description: str | None, mode: str | None, priority: str,
    requirements: str | None, deadline: str | None, workdir: str | None, concurrency: int | None,
    complexity: str | None, foreground: bool, no_start: bool, wait: bool, as_json: bool,
    stakeholders: str | None = None, hold: bool = False, request_id: str | None = None,
) -> tuple[TaskOrchestrator, str | None]:
    """`task create` up to following the task: validate, store, start the daemon, print the id
    (or the JSON document; the dry-run report for a dry run, then the id is None).

    A task that waits for a council review cannot run in the foreground: its id is printed,
    then a ConflictError (exit 5) says how to go on. `request_id`: this submission's id, given
    when the daemon was asked first (cli/daemon_submit.py): a task it stored is found, not
    stored again.
    """
    # lazy: keeps start-up light
    from agent_agency_cli.errors import BadInputError, ConflictError, StoredNotStartedError
    from agent_agency_cli.models import FOREGROUND_OWNER, HELD_OWNER  # lazy: keeps start-up light

    if hold and (foreground or wait):
        raise BadInputError("--hold cannot go with --foreground or --wait (a held task does not run "
                            "until `task release ID`)")
    request = build_request(plan=plan, description=description, mode=mode, priority=priority,
                            requirements=requirements, deadline=deadline, stakeholders=stakeholders,
                            workdir=workdir, concurrency=concurrency, complexity=complexity)
    orch = orchestrator()
    try:
        # --foreground: reserved for this process, so a running daemon never takes it
        tid = orch.submit_task(request, start_daemon=not (foreground or no_start or hold),
                               reserve=FOREGROUND_OWNER if foreground else HELD_OWNER if hold else None,
                               request_id=request_id)
    except StoredNotStartedError as exc:
        announce_not_started(exc.task_id, str(exc), as_json)
        raise
    status = orch.get_status(tid)
    simulated = status["mode"] == "dry-run" and not hold  # a held dry run is simulated at release
    if hold and not as_json:
        then = "simulates it (dry run)" if status["mode"] == "dry-run" else "lets the daemon run it"
        print(f"task {tid} is held: agent-agency-cli task release {tid} {then}", file=sys.stderr)
    if simulated:
        report = orch.impact_report(tid)
        if as_json:
            print_json(report)
        else:
            print(tid, flush=True)
            from agent_agency_cli.cli.render import render_impact  # lazy: keeps start-up light

            render_impact(report)
        return orch, None
    warnings = [] if as_json else orch.validation_warnings(tid)
    if status["plan"].get("source") in (None, "file") and not (wait or foreground):
        announce(tid, status, warnings, as_json)  # what the daemon's submit path prints too
        return orch, tid
    write_warnings(warnings)
    plan_waits = False  # a planner's plan awaiting approval as a whole (strict mode)
    if status["plan"].get("source") not in (None, "file") and not as_json:
        from agent_agency_cli.cli.plan_cmd import announce_plan  # lazy: keeps start-up light

        plan_waits = announce_plan(status)
    if status["status"] == "awaiting_review":
        if not plan_waits:
            print(review_line(tid, status), file=sys.stderr)
        if foreground:
            print(tid, flush=True)
            raise ConflictError(f"task {tid} cannot run in the foreground before its review; after "
                                "`task review --approve` the daemon runs it")
    if not as_json:
        print(tid, flush=True)
    elif not (wait or foreground):
        # With --wait/--foreground the one JSON document is the final status (it holds the id).
        print_json(id_document(tid, status))
    return orch, tid


def build_request(*, plan: str | None, description: str | None, mode: str | None, priority: str,
                  requirements: str | None, deadline: str | None, stakeholders: str | None,
                  workdir: str | None, concurrency: int | None, complexity: str | None) -> dict[str, Any]:
    """The facade's request from the create options; the options' own errors (exit 2) first."""
    from agent_agency_cli.errors import BadInputError  # lazy: keeps start-up light
    from agent_agency_cli.models import ExecutionMode, Priority  # lazy: keeps start-up light
    from agent_agency_cli.units import MAX_CONCURRENCY, bounded_int  # lazy: keeps start-up light

    try:
        prio = Priority(priority)
    except ValueError:
        raise BadInputError(f"unknown priority {priority!r} (low, normal, high, urgent)") from None
    try:
        mode_v = ExecutionMode(mode) if mode else None
    except ValueError:
        raise BadInputError(f"unknown mode {mode!r} (auto, strict, dry-run)") from None
    if concurrency is not None:
        bounded_int(concurrency, "--concurrency", 1, MAX_CONCURRENCY)
    if complexity is not None and complexity not in COMPLEXITIES:
        raise BadInputError(f"unknown complexity {complexity!r} (simple, moderate, complex, enterprise)")
    # A dict: the facade validates it and turns any bad field into one line (exit 2).
    return dict(
        description=description, plan=plan, mode=mode_v, priority=prio,
        requirements=requirements.split(",") if requirements else [],
        stakeholders=stakeholders.split(",") if stakeholders else [],
        deadline=deadline, workdir=workdir, concurrency=concurrency, complexity=complexity,
    )


PLAN_SUFFIXES = (".yaml", ".yml")


def is_batch(plans: list[str]) -> bool:
    """Several plans, or a plan directory: one task per plan file."""
    return len(plans) > 1 or (len(plans) == 1 and os.path.isdir(plans[0]))


def expand_plans(plans: list[str]) -> list[str]:
    """Each plan as given; a directory becomes its .yaml/.yml files, sorted by name."""
    from agent_agency_cli.errors import BadInputError  # lazy: keeps start-up light

    out: list[str] = []
    for plan in plans:
        if not os.path.isdir(plan):
            out.append(plan)
            continue
        files = sorted(e.name for e in os.scandir(plan) if e.name.endswith(PLAN_SUFFIXES) and e.is_file())
        if not files:
            raise BadInputError(f"plan directory {plan} holds no plan file (*.yaml, *.yml)")
        out.extend(os.path.join(plan, name) for name in files)
    return out


def submit_batch(
    *, plans: list[str], description: str | None, mode: str | None, priority: str,
    requirements: str | None, deadline: str | None, workdir: str | None, concurrency: int | None,
    complexity: str | None, no_start: bool, as_json: bool, stakeholders: str | None = None,
    request_ids: list[str] | None = None,
) -> int:
    """`task create --plan A --plan B …` or `--plan DIR`: one task per plan file, each stored
    (and durable) in its own transaction, in order; a refused plan is reported (its error line
    names it) and the others are still stored. Returns the exit code (the first refused
    plan's, else 0); see submit_output.BatchOutput for what is printed."""
    from agent_agency_cli.errors import AgencyError, StoredNotStartedError  # lazy: keeps start-up light

    files = expand_plans(plans)
    requests = [build_request(plan=p, description=description, mode=mode, priority=priority,
                              requirements=requirements, deadline=deadline, stakeholders=stakeholders,
                              workdir=workdir, concurrency=concurrency, complexity=complexity) for p in files]
    orch = orchestrator()
    results = orch.submit_tasks(requests, start_daemon=not no_start, request_ids=request_ids)
    out = BatchOutput(as_json)
    for plan, result in zip(files, results, strict=True):
        if isinstance(result, StoredNotStartedError):
            out.refused(plan, str(result), result.exit_code, tid=result.task_id)
        elif isinstance(result, AgencyError):
            out.refused(plan, str(result), result.exit_code)
        else:
            status = orch.get_status(result)
            if status["mode"] == "dry-run":
                out.report(result, orch.impact_report(result))
            else:
                out.stored(result, status, [] if as_json else orch.validation_warnings(result))
    return out.finish()


def show_status(task_id: str, verbose: bool, as_json: bool, no_start: bool = False, *, steps: bool = False,
                summary: bool = False, limit: int | None = None, offset: int | None = None) -> None:
    """`task status`: JSON, a Rich view on a terminal, plain lines otherwise. A dead engine
    holding the task is noticed (and, unless `no_start`, a daemon started to recover it).

    Which steps, in either form: every step of a small task and a summary of a big one
    (orchestration/step_selection.py), `steps` every step; `summary` asks for the summary
    even of a small task; `limit`/`offset` page the table (0 = all)."""
    from agent_agency_cli.errors import BadInputError  # lazy: keeps start-up light
    from agent_agency_cli.units import MAX_ROW_NUMBER, bounded_int  # lazy: keeps start-up light

    paged = limit is not None or offset is not None
    if summary and (steps or paged):
        raise BadInputError("--summary shows the notable steps only: leave out --steps, --limit and --offset, "
                            "or drop --summary for the full table")
    if limit is not None:
        bounded_int(limit, "--limit", 0, MAX_ROW_NUMBER)
    if offset is not None:
        bounded_int(offset, "--offset", 0, MAX_ROW_NUMBER)
    how = "summary" if summary else "all" if (steps or paged) else "auto"
    orch = orchestrator()
    with _gc_paused():
        data = orch.get_status(task_id, interventions=verbose or as_json, steps=how, offset=offset or 0,
                               limit=limit or None)
    _notice_dead_engine(orch, [data], no_start)
    with _gc_paused():
        _show_status(orch, data, verbose, as_json)


def _show_status(orch: TaskOrchestrator, data: dict, verbose: bool, as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    # The gate runs with their evidence paths are the result's; read them only when there are any.
    gates = orch.result(data["id"])["gates"] if any(st.get("gates") for st in data["steps"]) else None
    if is_tty():
        from agent_agency_cli.cli.render import render_status  # lazy: keeps start-up light

        render_status(data, verbose, gates)
        return
    from agent_agency_cli.cli.plain import status_lines  # lazy: keeps start-up light

    _write_lines(status_lines(data, verbose, gates))


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: building 100,000 steps' dicts (none of them in a
    cycle) set it off again and again, 40% of `task status --json`'s time on such a task."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def show_list(status: list[str] | None, limit: int, as_json: bool, search: str | None = None,
              no_start: bool = False) -> None:
    """`task list`: newest first; `limit` 0 means all; `search` keeps the tasks whose id or
    description holds it (any case). A dead engine holding a listed task is noticed."""
    from agent_agency_cli.units import MAX_ROW_NUMBER, bounded_int  # lazy: keeps start-up light

    bounded_int(limit, "--limit", 0, MAX_ROW_NUMBER)
    if as_json and not limit and not search:  # all of them: written as they are read (constant memory)
        _stream_all(status or None)
        return
    orch = orchestrator()
    if search:
        needle = search.casefold()
        matches = [t for t in orch.list_tasks(status or None, None)
                   if needle in t["id"].casefold() or needle in (t["description"] or "").casefold()]
        tasks = matches[:limit] if limit else matches
    else:
        tasks = orch.list_tasks(status or None, limit or None)
    _notice_dead_engine(orch, tasks, no_start)
    if as_json:
        print_json(tasks)
        return
    if is_tty():
        from agent_agency_cli.cli.render import render_list  # lazy: keeps start-up light

        render_list(tasks)
        return
    from agent_agency_cli.cli.plain import list_lines  # lazy: keeps start-up light

    if not tasks:
        _done("no tasks")  # on stderr: a pipe gets rows only
    _write_lines(list_lines(tasks))


def show_events(task_id: str, follow: bool, after: int, as_json: bool) -> None:
    """`task events`: the task's events after id `after` (all of them, as JSON lines written as
    they are read, or one plain line each); with `follow`, new ones as they come until it ends."""
    from agent_agency_cli.units import MAX_ROW_NUMBER, bounded_int  # lazy: keeps start-up light

    bounded_int(after, "--after", 0, MAX_ROW_NUMBER)
    orch = orchestrator()
    tid = orch.resolve(task_id)
    if as_json and not follow:

        write_lines(orch.event_lines(tid, after))
        return
    from agent_agency_cli.cli.render import event_line  # lazy: keeps start-up light

    source = orch.follow(tid, after=after) if follow else iter(orch.events(tid, after, 100_000))
    for ev in source:
        if ev is None:
            continue
        if as_json:
            print_json_line(ev)
        else:
            line = event_line(ev)
            if line:
                print(f"{ev['id']:>6}  {line}", flush=follow)


def _stream_all(statuses: list[str] | None) -> None:
    """Every task as a JSON array, each summary written as its page is read
    (`TaskOrchestrator.iter_tasks`)."""

    orch = orchestrator()
    orch.list_tasks(statuses, 1)  # the facade checks the statuses (exit 2 on an unknown one)
    with _gc_paused():  # each page's rows are freed by reference counting; nothing here makes cycles
        write_json_array(orch.iter_tasks(statuses))


def _notice_dead_engine(orch: TaskOrchestrator, tasks: list[dict], no_start: bool) -> None:
    """Only tasks an engine holds can have lost it: the check runs only when some are shown
    (it reads /proc; starting the daemon's imports come only once one is found dead)."""
    from agent_agency_cli.cli.task_support import notice_dead_engine  # lazy: keeps start-up light
    from agent_agency_cli.engine.liveness import ENGINE_HELD  # lazy: keeps start-up light

    notice_dead_engine(orch, [t["id"] for t in tasks if t["status"] in ENGINE_HELD], no_start)


def pause(task_id: str, as_json: bool = False) -> None:
    _control(task_id, as_json, lambda o: o.pause(task_id))


def resume(task_id: str, as_json: bool = False) -> None:
    _control(task_id, as_json, lambda o: o.resume(task_id))


def cancel(task_id: str, reason: str, as_json: bool = False) -> None:
    _control(task_id, as_json, lambda o: o.cancel(task_id, reason))


def _control(task_id: str, as_json: bool, call) -> None:  # type: ignore[no-untyped-def]
    from agent_agency_cli.cli.task_support import run_control  # lazy: keeps start-up light

    run_control(task_id, as_json, call)


def _done(message: str) -> None:
    print(message, file=sys.stderr)


def _write_lines(lines: list[str]) -> None:
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()

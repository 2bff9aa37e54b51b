"""`agent-agency-cli task pause|resume|cancel|escalate|override|modify|retry|approve|reject|review`."""

from __future__ import annotations

from typing import Annotated

import typer

from agent_agency_cli.cli import task_actions
from agent_agency_cli.cli.choices import MODES, OVERRIDE_ACTIONS, PRIORITIES, complete, metavar
from agent_agency_cli.cli.common import fail, handle_errors
from agent_agency_cli.cli.task_app import IdArg, JsonOpt, app
from agent_agency_cli.cli.task_support import run_control


@app.command()
@handle_errors
def pause(task_id: IdArg, as_json: JsonOpt = False) -> None:
    """Pause: no new step starts and running steps are stopped (SIGSTOP)."""
    task_actions.pause(task_id, as_json)


@app.command()
@handle_errors
def resume(task_id: IdArg, as_json: JsonOpt = False) -> None:
    """Resume a paused or escalated task (SIGCONT, scheduling continues)."""
    task_actions.resume(task_id, as_json)


@app.command()
@handle_errors
def cancel(
    task_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the audit "
                                        "trail).")] = task_actions.DEFAULT_CANCEL_REASON,
    as_json: JsonOpt = False,
) -> None:
    """Cancel: SIGTERM then SIGKILL the running steps; pending steps are cancelled."""
    task_actions.cancel(task_id, reason, as_json)


@app.command()
@handle_errors
def escalate(
    task_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why a person must look.")],
    as_json: JsonOpt = False,
) -> None:
    """Stop scheduling and wait for a person (resume or cancel)."""
    run_control(task_id, as_json, lambda o: o.escalate(task_id, reason))


@app.command()
@handle_errors
def override(
    task_id: IdArg,
    step: Annotated[str, typer.Option("--step", "-s", help="The step to decide on.")],
    action: Annotated[str, typer.Option("--action", "-a", metavar=metavar(OVERRIDE_ACTIONS),
                                        autocompletion=complete(OVERRIDE_ACTIONS),
                                        help="What to do with the step.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the audit "
                                        "trail).")],
    as_json: JsonOpt = False,
) -> None:
    """A manual decision on one step: skip it, mark it succeeded, or retry it."""
    run_control(task_id, as_json, lambda o: o.override(task_id, step, action, reason))


@app.command()
@handle_errors
def modify(
    task_id: IdArg,
    priority: Annotated[str | None, typer.Option(metavar=metavar(PRIORITIES),
                                                 autocompletion=complete(PRIORITIES),
                                                 help="New queue priority.")] = None,
    deadline: Annotated[str | None, typer.Option(help="New deadline (ISO-8601 or 2h).")] = None,
    requirements: Annotated[str | None, typer.Option(help="New comma-separated "
                                                     "requirements.")] = None,
    mode: Annotated[str | None, typer.Option(metavar=metavar(MODES), autocompletion=complete(MODES),
                                             help="New mode (from the next step).")] = None,
    max_cpu: Annotated[int | None, typer.Option("--max-cpu", help="CPU cores for steps "
                                                "started from now on.")] = None,
    max_memory: Annotated[str | None, typer.Option("--max-memory", help="Memory limit for "
                                                   "steps started from now on (512M, 2G).")
                          ] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="Hot-swap: NAME for every model step "
                                                    "not yet started, or STEP=NAME (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a task's priority, deadline, requirements, mode, resource limits or models."""
    run_control(task_id, as_json, lambda o: o.modify(
        task_id, priority=priority, deadline=deadline,
        requirements=requirements.split(",") if requirements is not None else None,
        mode=mode, max_cpu=max_cpu, max_memory=max_memory, models=model,
    ))


@app.command()
@handle_errors
def retry(task_id: IdArg, as_json: JsonOpt = False) -> None:
    """Re-run a failed or cancelled task from its failed steps; finished steps are kept."""
    run_control(task_id, as_json, lambda o: o.retry(task_id))


@app.command()
@handle_errors
def approve(
    task_id: IdArg,
    step: Annotated[str | None, typer.Option("--step", "-s", help="The step to approve (default: "
                                             "the one waiting).")] = None,
    all_remaining: Annotated[bool, typer.Option("--all-remaining", help="Also approve every later "
                                                "step of this task (strict mode stops asking).")] = False,
    group: Annotated[bool, typer.Option("--group", help="Also approve the other steps of its "
                                        "parallel group (strict mode): they start without asking.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Approve the step awaiting approval (strict mode, a gate decision, a manual review)."""
    if group and all_remaining:
        raise fail("--group and --all-remaining cannot go together (--all-remaining already covers the group)", 2)
    run_control(task_id, as_json, lambda o: o.approve(task_id, step, all_remaining, group=group))


@app.command()
@handle_errors
def reject(
    task_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the audit trail).")],
    step: Annotated[str | None, typer.Option("--step", "-s", help="The step to reject.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject the step awaiting approval: the step fails, and so does the task."""
    run_control(task_id, as_json, lambda o: o.reject(task_id, reason, step))


@app.command()
@handle_errors
def review(
    task_id: IdArg,
    approve_: Annotated[bool, typer.Option("--approve", help="Let the task run.")] = False,
    reject_: Annotated[bool, typer.Option("--reject", help="Refuse it: the task fails.")] = False,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept with the review).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Decide a blocking council review (a high or critical risk task waits in awaiting_review)."""
    from agent_agency_cli.errors import BadInputError  # lazy: keeps start-up light

    if approve_ == reject_:
        raise BadInputError("give exactly one of --approve or --reject")
    if reject_ and not reason:
        raise BadInputError("--reject needs --reason")
    run_control(task_id, as_json, lambda o: o.review(task_id, approve=approve_, reason=reason or "approved"))


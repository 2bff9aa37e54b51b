"""`agent-agency-cli task plan`: plan a description without creating a task, or show,
approve, reject or edit (in $EDITOR) the plan of a task waiting for its plan's approval."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agent_agency_cli.cli.common import fail, handle_errors, orchestrator, print_json


def _print_plan(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    sys.stdout.write(data["yaml"])
    for note in data.get("notes") or []:
        print(f"not planned: {note}", file=sys.stderr)


def announce_plan(status: dict[str, Any]) -> bool:
    """On stderr, before the task runs: the planner's steps and what it could not plan.
    True when the plan awaits approval as a whole (strict mode)."""
    plan = status["plan"]
    by = f" ({plan['planner_model']})" if plan.get("planner_model") else ""
    steps = ", ".join(f"{s['name']}" + (f" [{s['model']['selected']}]" if s.get("model") else "")
                      for s in status["steps"])
    print(f"planned by the {plan['source']} planner{by}: {steps}", file=sys.stderr)
    for note in plan.get("not_planned") or []:
        print(f"not planned: {note}", file=sys.stderr)
    if status["status"] == "awaiting_review" and status["mode"] == "strict":
        tid = status["id"]
        print(f"the plan awaits approval: agent-agency-cli task plan {tid} (show) | --approve | --edit | "
              "--reject --reason ...", file=sys.stderr)
        return True
    return False


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def plan(
        task_id: Annotated[str | None, typer.Argument(help="A task whose plan to show, approve, reject or "
                                                      "edit (omit to plan a --description).")] = None,
        description: Annotated[str | None, typer.Option("--description", "-d", help="What to plan.")] = None,
        requirements: Annotated[str | None, typer.Option(help="Comma-separated requirements.")] = None,
        workdir: Annotated[str | None, typer.Option(help="The project the plan works on.")] = None,
        output: Annotated[str | None, typer.Option("--output", "-o", help="Write the plan (YAML) to this "
                                                   "file instead of stdout.")] = None,
        edit: Annotated[bool, typer.Option("--edit", help="Edit the task's plan in $EDITOR, then approve it.")
                        ] = False,
        approve: Annotated[bool, typer.Option("--approve", help="Approve the task's plan as a whole.")] = False,
        reject: Annotated[bool, typer.Option("--reject", help="Reject the task's plan (the task fails).")
                          ] = False,
        reason: Annotated[str, typer.Option(help="Why (recorded with the decision).")] = "",
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    ) -> None:
        """Plan a task from a description (nothing is created), or review a task's plan.

        Without a planner model configured, the built-in planner plans what it can and
        says what it could not.
        """
        from agent_agency_cli.planning import plan_review  # lazy: keeps start-up light

        orch = orchestrator()
        if task_id is None:
            if edit or approve or reject:
                raise fail("--edit, --approve and --reject need a task id", 2)
            data = plan_review.plan_only(orch, description, requirements, workdir)
        elif approve or reject or edit:
            if approve + reject + edit > 1:
                raise fail("give one of --approve, --reject or --edit", 2)
            if reject and not reason.strip():
                raise fail("--reject needs --reason", 2)
            if edit:
                message = plan_review.edit_plan(orch, task_id)
            else:
                message = plan_review.decide(orch, task_id, approve=approve, reason=reason or "plan approved")
            print(message)
            return
        else:
            data = plan_review.task_plan(orch, task_id)
        if output:
            Path(output).write_text(data["yaml"], encoding="utf-8")
            print(f"wrote {output}", file=sys.stderr)
            if as_json:
                print_json(data)
            return
        _print_plan(data, as_json)

"""What `task create` prints for a stored task, from data alone (no facade).

Both submit paths render through these functions — the local one (cli/task_actions.py)
and the daemon's (cli/daemon_submit.py, which gets the same data over the socket) — so
their stdout, stderr and exit codes are the same by construction. Light: json and sys.
"""

from __future__ import annotations

import sys
from typing import Any

from agent_agency_cli.cli.common import dumps_json, print_error, print_json


def review_line(tid: str, status: dict[str, Any]) -> str:
    """The stderr line of a task waiting for the council's review."""
    return (f"task {tid} awaits a council review (risk {(status.get('risk') or {}).get('level')}): "
            f"agent-agency-cli task review {tid} --approve|--reject --reason ...")


def write_warnings(warnings: list[str]) -> None:
    """Validation warnings (a deadline the estimate does not fit, ...) to stderr, one line each."""
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)


def id_document(tid: str, status: dict[str, Any]) -> dict[str, Any]:
    """The --json document of a stored task: its id and status without the step rows."""
    return {"id": tid, **{k: v for k, v in status.items() if k != "steps"}}


def announce(tid: str, status: dict[str, Any], warnings: list[str], as_json: bool) -> None:
    """A stored task (not a dry run, not a planner's plan, not followed): warnings and the
    review notice on stderr, then the id (or its JSON document) on stdout."""
    if not as_json:
        write_warnings(warnings)
    if status["status"] == "awaiting_review":
        print(review_line(tid, status), file=sys.stderr)
    if as_json:
        print_json(id_document(tid, status))
    else:
        print(tid, flush=True)


def announce_not_started(tid: str, message: str, as_json: bool) -> None:
    """Stored, but what follows the insert failed: the id still reaches stdout (so nobody
    submits it twice); the caller then prints the error line with its exit code."""
    if as_json:
        print_json({"id": tid, "started": False, "error": message})
    else:
        print(tid, flush=True)


class BatchOutput:
    """`task create` with several plans: per task, in order, its id line (warnings and
    notices on stderr) or its error line, which names the plan; with --json one array of the
    tasks' documents ({"plan", "error", "exit_code"} for a refused one, whose error line
    still goes to stderr) at the end. The
    exit code is the first refused plan's, else 0."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.documents: list[dict[str, Any]] = []
        self.code = 0

    def stored(self, tid: str, status: dict[str, Any], warnings: list[str]) -> None:
        if self.as_json:
            self.documents.append(id_document(tid, status))
            return
        announce(tid, status, warnings, as_json=False)

    def report(self, tid: str, report: dict[str, Any]) -> None:
        """A dry run's impact report (the document with --json, else the id and the report)."""
        if self.as_json:
            self.documents.append(report)
            return
        print(tid, flush=True)
        from agent_agency_cli.cli.render import render_impact  # lazy: keeps start-up light

        render_impact(report)

    def refused(self, plan: str, message: str, code: int, tid: str | None = None) -> None:
        """A refused plan: its error line on stderr (with --json too), and its document or,
        when it was stored but not started, its id."""
        self.code = self.code or code
        if self.as_json:
            doc: dict[str, Any] = {"plan": plan, "error": message, "exit_code": code}
            self.documents.append({"id": tid, "started": False, **doc} if tid else doc)
        elif tid:
            print(tid, flush=True)
        print_error(message if plan in message else f"{plan}: {message}")  # a plan error names it

    def finish(self) -> int:
        if self.as_json:
            sys.stdout.write(dumps_json(self.documents) + "\n")
            sys.stdout.flush()
        return self.code

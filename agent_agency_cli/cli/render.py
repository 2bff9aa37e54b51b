"""Rich rendering for human output: status, list, event lines and the live follow view."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

# The Rich-free pieces live in plain.py (a piped command's view); re-exported for the others.
from agent_agency_cli.cli.plain import (  # noqa: F401
    _step_cells,
    completion_lines,
    gate_failed,
    gate_lines,
    gate_summary,
    selection_lines,
    step_status_word,
    steps_plain_lines,
    verbose_lines,
    waiting_note,
)
from agent_agency_cli.event_kinds import (
    APPROVAL_PURPOSE,
    MODEL_KINDS,
    QUIET_KINDS,
    STATUS_ICONS,
    STEP_ENDINGS,
    TASK_ENDINGS_WITH_REASON,
    EventKind,
    kind_of,
)
from agent_agency_cli.security.terminal import strip_controls, strip_value
from agent_agency_cli.units import format_duration

ICONS = STATUS_ICONS
STYLES = {
    "running": "cyan", "paused": "yellow", "completed": "green", "failed": "red",
    "skipped": "dim", "cancelled": "magenta", "interrupted": "yellow", "escalated": "yellow",
    "queued": "blue", "pending": "dim", "awaiting_approval": "yellow",
    "partially_completed": "yellow",
}


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


def status_text(status: str, mode: str | None = None) -> Text:
    """`✓ completed`; a finished dry run says so: it ran nothing (`✓ dry run`)."""
    if mode == "dry-run" and status == "completed":
        return Text("◇ dry run", style="blue")
    return Text(f"{ICONS.get(status, '·')} {status}", style=STYLES.get(status, ""))


def _local_time(ts: str | None) -> str:
    if not ts:
        return "-"
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")


def _bar(percent: float, width: int = 22) -> str:
    filled = round(width * percent / 100)
    return "█" * filled + "░" * (width - filled)


def header_lines(s: dict[str, Any]) -> list[Text]:
    p = s["progress"]
    head = Text.assemble(
        (s["id"], "bold"), "  ", s["description"], "   ",
        (f"{s['mode']} · {s['priority']}", "dim"),
    )
    line = Text.assemble(
        status_text("held" if s.get("held") else s["status"], s.get("mode")), "  ", _bar(p["percent"]),
        f"  {p['done']}/{p['total']} steps {p['percent']:.0f}%",
        f"  {format_duration(s['elapsed'])} elapsed" if s["elapsed"] is not None and s.get("mode") != "dry-run"
        else "",
        f"  ETA {format_duration(s['eta'])}" if s.get("eta") is not None else "",
    )
    lines = [head, line]
    if s.get("mode") == "dry-run" and s["finished"]:
        lines.append(Text("dry run: nothing was run; the plan was checked and reported", style="blue"))
    if s["deadline"]:
        style = "red bold" if s["deadline_passed"] else ""
        label = "deadline passed" if s["deadline_passed"] else "due"
        lines.append(Text(f"{label} {s['deadline']}", style=style))
    if s.get("stakeholders"):
        lines.append(Text(f"stakeholders: {', '.join(s['stakeholders'])}"))
    if s["reason"]:
        lines.append(Text(f"reason: {s['reason']}", style=STYLES.get(s["status"], "")))
    note = waiting_note(s)
    if note:
        lines.append(Text(note, style="yellow bold"))
    return lines


def step_status_text(word: str) -> Text:
    """The status word with its icon and colour (never a plain ✓ for a failed gate)."""
    if word == "simulated":
        return Text("◇ simulated", style="blue")
    if word == "completed, gate failed":
        return Text("◐ completed, gate failed", style="yellow")
    return status_text(word)


def steps_table(s: dict[str, Any], critical: set[str] | None = None) -> Table:
    t = Table(box=None, pad_edge=False, show_edge=False, header_style="bold dim")
    t.add_column("step")
    t.add_column("status")
    t.add_column("try", justify="right")
    t.add_column("time", justify="right")
    t.add_column("exit", justify="right")
    t.add_column("detail", overflow="fold")
    critical = critical or set()
    for st in s["steps"]:
        name, status, tries, took, code, detail = _step_cells(st, s.get("mode"))
        if name in critical:
            name += " ★"  # on a terminal only: piped, the critical path is a line of its own
        t.add_row(name, step_status_text(status), tries, took, code, detail)
    return t


# Rich lays a table out cell by cell (about a millisecond a row): beyond this many
# steps, or when stdout is not a terminal, the steps are aligned by hand instead.
RICH_TABLE_MAX_ROWS = 300


def render_status(s: dict[str, Any], verbose: bool, gates: list[dict[str, Any]] | None = None) -> None:
    """`task status` for people; `gates` (the result's gate runs, with evidence) adds a gates section."""
    # Step output in reasons and messages must not drive the terminal. The steps are
    # stripped cell by cell as they are shown (walking 100,000 of them whole costs seconds).
    steps = s["steps"]
    s = {**strip_value({k: v for k, v in s.items() if k != "steps"}), "steps": steps}
    out = console()
    for line in header_lines(s):
        out.print(line)
    out.print()
    critical = set(s["plan"]["critical_path"])
    before, after = selection_lines(s)
    for line in before:
        out.print(line, highlight=False, markup=False)
    if not (before and not s["steps"]):
        if out.is_terminal and len(s["steps"]) <= RICH_TABLE_MAX_ROWS:
            out.print(steps_table(s, critical))
        else:
            out.file.write("\n".join(steps_plain_lines(s)) + "\n")
    for line in after:
        out.print(line, style="dim", highlight=False, markup=False, overflow="ignore", crop=False)
    from agent_agency_cli.cli.model_render import model_lines  # lazy: keeps start-up light

    for line in model_lines(s):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    if gates:
        out.print()
        out.print(Text("gates", style="bold"))
        for line in gate_lines(strip_value(gates)):
            out.print(line, overflow="ignore", crop=False)
    for line in completion_lines(s["status"], s.get("completion")):
        out.print(line)
    if verbose:
        for line in verbose_lines(s):
            # Section names in bold; values (reasons, paths) printed as they are, never as markup.
            out.print(Text(line, style="bold" if line in _VERBOSE_SECTIONS else ""), overflow="ignore",
                      crop=False, soft_wrap=True)


_VERBOSE_SECTIONS = frozenset({"plan", "metrics", "failed attempts", "audit trail"})


def render_list(tasks: list[dict[str, Any]]) -> None:
    tasks = strip_value(tasks)
    out = console()
    if not tasks:
        out.print("no tasks", style="dim")
        return
    t = Table(box=None, pad_edge=False, header_style="bold dim")
    for col in ("id", "status", "priority", "progress", "elapsed", "age", "description"):
        t.add_column(col, justify="right" if col in ("progress", "elapsed", "age") else "left")
    for task in tasks:
        p = task["progress"]
        t.add_row(
            task["id"], status_text("held" if task.get("held") else task["status"], task.get("mode")),
            task["priority"],
            f"{p['done']}/{p['total']}", "-" if task.get("mode") == "dry-run" else format_duration(task["elapsed"]),
            format_duration(task["age"]), task["description"][:60],
        )
    out.print(t)


def event_line(ev: dict[str, Any]) -> str | None:
    """One plain line for an event (None for noise such as progress ticks), without terminal
    control sequences (a step's output in a reason must not drive the terminal)."""
    line = _event_text(ev)
    return strip_controls(line) if line else line


def _event_text(ev: dict[str, Any]) -> str | None:
    kind = kind_of(ev["kind"])
    p = ev["payload"]
    t = _local_time(ev["ts"])
    step = ev["step"]
    if kind is None:  # a kind a newer version wrote
        return f"{t}  {ev['kind']}"
    if kind in QUIET_KINDS:
        return None
    if kind in MODEL_KINDS:
        from agent_agency_cli.cli.model_render import event_line as model_event  # lazy: keeps start-up light

        line = model_event(t, step, kind.value, p)
        if line is not None:
            return line
    if kind is EventKind.APPROVAL_REQUESTED:
        what = APPROVAL_PURPOSE.get(p.get("kind"), "")
        return (f"{t}  {step}  awaits approval {what}: {p.get('command')}  "
                f"(agent-agency-cli task approve {ev['task_id']} | task reject "
                f"{ev['task_id']} --reason ...)")
    if kind is EventKind.GATE_STARTED:
        return f"{t}  {step}  gate {p.get('gate')} running"
    if kind is EventKind.REVIEW_RECORDED:
        who = f" by {p['reviewer']}" if p.get("reviewer") else ""
        return f"{t}  {p.get('phase')} {p.get('kind')} review: {p.get('verdict')}{who}"
    if kind is EventKind.GATE_RESULT:
        return (f"{t}  {step}  gate {p.get('gate')} {p.get('status')}"
                + (f" (score {p['score']:.2f})" if p.get("score") is not None else "")
                + ("" if p.get("required", True) else " [advisory]"))
    if kind is EventKind.STEP_STARTED:
        return f"{t}  {step}  started (attempt {p.get('attempt')}/{p.get('max_attempts')})"
    if kind is EventKind.STEP_COMPLETED:
        return f"{t}  {step}  completed in {format_duration(p.get('duration'))}"
    if kind is EventKind.STEP_FAILED:
        return f"{t}  {step}  FAILED: {p.get('reason')}"
    if kind is EventKind.STEP_RETRY:
        return f"{t}  {step}  failed ({p.get('reason')}); retrying"
    if kind in STEP_ENDINGS:
        return f"{t}  {step}  {p.get('status')}: {p.get('reason')}"
    if kind.scope == "step":
        return f"{t}  {step}  {kind.value.removeprefix('step_')}"
    if kind is EventKind.TASK_CREATED:
        n = p.get("steps")
        return f"{t}  task {ev['task_id']} created: {p.get('description')} ({n} step{'' if n == 1 else 's'})"
    if kind in TASK_ENDINGS_WITH_REASON:
        return f"{t}  task {p.get('status')}: {p.get('reason')}"
    if kind is EventKind.TASK_MODIFIED:
        from agent_agency_cli.change_text import describe_changes  # lazy: keeps start-up light

        return f"{t}  task modified: {describe_changes(p.get('new') or {}, p.get('old') or {})}"
    if kind.scope == "task":
        return f"{t}  task {kind.value.removeprefix('task_')}"
    if kind.scope == "intervention":
        who = p.get("who", "")
        return f"{t}  {p.get('kind')} {kind.value.removeprefix('intervention_')} ({who})" + (
            f": {p.get('message')}" if p.get("message") else "")
    if kind is EventKind.DEADLINE_PASSED:
        return f"{t}  deadline passed"
    if kind is EventKind.ALERT:
        return f"{t}  ALERT ({p.get('cause')}): {p.get('message')}"
    return f"{t}  {kind.value}"


def follow_view(s: dict[str, Any], recent: list[str]) -> Group:
    s = strip_value(s)
    parts: list[Any] = [*header_lines(s), Text(""), steps_table(s, set(s["plan"]["critical_path"]))]
    if recent:
        parts.append(Text(""))
        parts.extend(Text(r, style="dim") for r in recent[-6:])
    return Group(*parts)


def render_impact(r: dict[str, Any]) -> None:
    """The dry-run impact report for people."""
    out = console()
    out.print(Text(f"dry run of {r['task_id']}: {r['description']} — nothing was run", style="bold"))
    risk = r.get("risk") or {}
    if risk:
        out.print(f"risk: {risk.get('level')}  " + "; ".join(risk.get("reasons", [])[:3]))
    out.print(f"estimated duration {format_duration(r['estimated_duration'])}, "
              f"critical path {' -> '.join(r['critical_path'])}")
    # One block per step, each field on its own line, printed unwrapped: a table at 80
    # columns folded commands and paths mid-token; a terminal soft-wraps a long line whole.
    for s in r["steps"]:
        cmd = s["command"] if isinstance(s["command"], str) else " ".join(s["command"] or [])
        cmd = " ⏎ ".join(line.strip() for line in cmd.strip().splitlines() if line.strip())
        lines = [f"{s['order']}. {s['name']}  (group {s['group']})", f"   $ {cmd}",
                 f"   workdir: {s['workdir']}"]
        if s["gates"]:
            lines.append(f"   gates: {', '.join(s['gates'])}")
        paths = [*s["touches"], *s["outputs"]]
        if paths:
            lines.append(f"   paths: {', '.join(paths)}")
        for line in lines:
            out.print(line, overflow="ignore", crop=False, soft_wrap=True)
    out.print(f"strict mode would ask {len(r['approvals_in_strict_mode'])} approval(s): "
              + ", ".join(r["approvals_in_strict_mode"]))
    validation = r.get("validation") or {}
    from agent_agency_cli.validation import warnings_of  # lazy: keeps start-up light

    for line in warnings_of(validation):
        out.print(f"warning: {line}")
    for f in validation.get("findings", [])[:10]:
        out.print(f"finding [{f.get('severity')}] {f.get('where')}: {f.get('message')}")

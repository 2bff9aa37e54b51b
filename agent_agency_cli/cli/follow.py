"""Following a task live: a Rich view on a TTY, one plain line per event otherwise."""

from __future__ import annotations

import json
import sys
import threading
from typing import TYPE_CHECKING

from agent_agency_cli.cli.render import console, event_line, follow_view, waiting_note
from agent_agency_cli.errors import AgencyError
from agent_agency_cli.event_kinds import EventKind

if TYPE_CHECKING:
    from agent_agency_cli.orchestrator import TaskOrchestrator


def follow(
    orch: TaskOrchestrator, tid: str, *, live: bool, after: int = 0, to_stdout: bool = False
) -> dict:
    """Follow until the task finishes; returns its final status dict.

    Plain lines go to stderr (the command's own output, e.g. the task id, owns
    stdout) unless `to_stdout`, as for `task watch --plain`.
    """
    if live:
        return _follow_live(orch, tid, after)
    out = sys.stdout if to_stdout else sys.stderr
    note = waiting_note(orch.get_status(tid))
    if note:  # a follower must never wait silently for a person
        print(note, file=out, flush=True)
    for ev in orch.follow(tid, after=after):
        if ev is None:
            continue
        line = event_line(ev)
        if line:
            print(line, file=out, flush=True)
    return orch.get_status(tid)


def _follow_live(orch: TaskOrchestrator, tid: str, after: int) -> dict:
    """The live view, redrawn in place. It is transient: a question (strict mode) first
    erases it and prints the view once, whole, as context; the question follows, and a
    fresh view starts under the answer. (Restarting the same Live would move the cursor up
    by the height of its last drawing, over the question, and leave pieces of the old
    header in the scrollback.) At the end the final view is printed once, to stay."""
    from rich.live import Live  # lazy: keeps start-up light

    out = console(stderr=True)
    recent: list[str] = []
    status = orch.get_status(tid)

    def view() -> Live:
        live = Live(follow_view(status, recent), console=out, auto_refresh=False, transient=True)
        live.start(refresh=True)
        return live

    live = view()
    # The request event is committed before the task shows awaiting_approval: a request seen
    # too early is kept and asked once the task awaits it (on a later event or heartbeat).
    request: dict | None = None
    try:
        for ev in orch.follow(tid, after=after, heartbeat=0.5):
            if ev is not None:
                line = event_line(ev)
                if line and ev["kind"] != EventKind.STEP_PROGRESS:
                    recent.append(line)
                if ev["kind"] == EventKind.APPROVAL_REQUESTED and sys.stdin.isatty():
                    request = ev
            if request is not None and awaits(orch, tid, request):
                live.stop()  # erases the live view; printed once, whole, above the question
                out.print(follow_view(orch.get_status(tid), recent))
                ask_approval(orch, tid, request)
                request = None
                status = orch.get_status(tid)
                live = view()
                continue
            status = orch.get_status(tid)
            live.update(follow_view(status, recent), refresh=True)
        status = orch.get_status(tid)
    finally:
        live.stop()
        out.print(follow_view(status, recent))  # the last view stays, also after Ctrl-C
    return status


def awaits(orch: TaskOrchestrator, tid: str, ev: dict) -> bool:
    """The step of this approval_requested event still awaits a decision (not decided
    from another terminal meanwhile, and not superseded by the next step's question)."""
    s = orch.get_status(tid)
    return s["status"] == "awaiting_approval" and (s.get("approval") or {}).get("step") == ev["payload"].get("step")


def follow_in_thread(orch_factory, tid: str, *, live: bool) -> threading.Thread:  # type: ignore[no-untyped-def]
    """Run a follower on its own connection while this thread runs the engine."""

    def target() -> None:
        with orch_factory() as orch:
            follow(orch, tid, live=live)

    t = threading.Thread(target=target, name="follow", daemon=True)
    t.start()
    return t


def ask_approval(orch: TaskOrchestrator, tid: str, ev: dict) -> None:
    """Strict mode on a TTY: ask right here (approve / reject / details / group / all); the question
    goes away by itself when the step is decided from another terminal."""
    out = console(stderr=True)
    p = ev["payload"]
    if not awaits(orch, tid, ev):
        return  # already decided elsewhere: never ask about it
    what = {"start": "run", "gate_violation": "accept despite gate violations",
            "manual_review": "pass the manual review of"}.get(p.get("kind"), "run")
    out.print(f"[bold]approve?[/bold] {what} step [bold]{p['step']}[/bold]: {p.get('command')}")

    def still_waiting() -> bool:
        return awaits(orch, tid, ev)

    try:
        _ask_loop(orch, tid, p, out, still_waiting)
    except EOFError:
        out.print(f"  no answer here (end of input); step {p['step']} still waits: "
                  f"agent-agency-cli task approve {tid} | task reject {tid} --reason ...")


def _ask_loop(orch, tid: str, p: dict, out, still_waiting) -> None:  # type: ignore[no-untyped-def]

    while True:
        # a: this step; g: and the rest of its parallel group; A: and every later step
        choice = read_answer(out, "  \\[a]pprove, \\[r]eject, \\[d]etails, approve its \\[g]roup or "
                                  "\\[A]ll (a): ", still_waiting)
        if choice is None:  # answered from another terminal (or the task moved on)
            out.print(f"  step {p['step']} was decided elsewhere; following on")
            return
        choice = choice or "a"
        if choice not in ("a", "r", "d", "g", "A"):
            out.print("  answer a, r, d, g or A")
            continue
        try:
            if choice == "d":
                for key in ("kind", "command", "workdir", "resources", "limits", "risk", "gates",
                            "timeout", "violations", "criteria"):
                    if p.get(key) not in (None, [], {}):
                        out.print(f"  {key}: {detail_text(key, p[key])}", markup=False)
                continue
            if choice == "r":
                reason = read_answer(out, "  reason: ", still_waiting)
                if reason is None:
                    out.print(f"  step {p['step']} was decided elsewhere; following on")
                    return
                reason = reason or "rejected at the prompt"
                out.print(orch.reject(tid, reason, p["step"]))
            else:  # g: the other steps of its parallel group start without asking (task approve --group)
                out.print(orch.approve(tid, p["step"], all_remaining=choice == "A", group=choice == "g"))
        except AgencyError as exc:
            out.print(f"  {exc}")
        return


def read_answer(out, prompt: str, still_waiting, poll: float = 0.25) -> str | None:  # type: ignore[no-untyped-def]
    """One line from the terminal, or None as soon as `still_waiting()` turns false: a
    question answered elsewhere (another terminal, the TUI) must not stay on screen."""
    import select  # lazy: keeps start-up light

    out.print(prompt, end="")
    while True:
        if not still_waiting():
            out.print()
            return None
        ready, _, _ = select.select([sys.stdin], [], [], poll)
        if ready:
            line = sys.stdin.readline()
            if not line:  # end of input: nobody can answer here
                out.print()
                raise EOFError
            return line.strip()


def detail_text(key: str, value: object) -> str:
    """A detail as words: risk as `high (reason; reason)`, other structures as JSON, not a repr."""

    if key == "risk" and isinstance(value, dict):
        reasons = "; ".join(str(r) for r in (value.get("reasons") or [])[:3])
        return f"{value.get('level', '?')}" + (f" ({reasons})" if reasons else "")
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)

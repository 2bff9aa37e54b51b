"""Plain text for pipes and files: what `task status` and `task list` print when stdout
is not a terminal. One row per line, columns aligned by spaces, status as a plain word,
no glyphs, no colour, no wrapping (like `gh` and `pueue`), so `awk '{print $2}'` works.

Rich is not imported here: a piped command starts without it (cli/render.py is the
terminal's view of the same data).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent_agency_cli.security.terminal import strip_controls, strip_value
from agent_agency_cli.step_view import GATE_OK, gaps_note, gate_failed, shown_exit, shown_reason, shown_tries
from agent_agency_cli.units import format_duration


def table(rows: list[tuple[str, ...]], right: frozenset[int] = frozenset()) -> list[str]:
    """Rows (the header first) as aligned lines; the last column is left ragged."""
    if not rows:
        return []
    last = len(rows[0]) - 1
    widths = [max(len(r[i]) for r in rows) for i in range(last)]
    lines = []
    for r in rows:
        cells = [r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]) for i in range(last)]
        lines.append(("  ".join([*cells, r[last]])).rstrip())
    return lines


def one_line(text: str) -> str:
    """A value on one line (descriptions and reasons may hold newlines)."""
    return " ".join(text.split())


def list_lines(tasks: list[dict[str, Any]]) -> list[str]:
    """`task list`: a header and one line per task; nothing at all when there are none."""
    tasks = strip_value(tasks)  # step output must not drive the terminal a pipe ends in
    rows = [("id", "status", "priority", "progress", "elapsed", "age", "description")]
    for t in tasks:
        p = t["progress"]
        dry = t.get("mode") == "dry-run"  # a dry run ran nothing: no elapsed time, not `completed`
        rows.append((t["id"], status_word(t), t["priority"], f"{p['done']}/{p['total']}",
                     "-" if dry else format_duration(t["elapsed"]), format_duration(t["age"]),
                     one_line(t["description"])))
    return table(rows, frozenset({3, 4, 5})) if tasks else []


def _local_time(ts: str | None) -> str:
    if not ts:
        return "-"
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")


def waiting_note(s: dict[str, Any]) -> str | None:
    """What a task waits for from a person, and the command that answers (None if nothing)."""
    tid = s["id"]
    if s["status"] == "awaiting_review":
        level = (s.get("risk") or {}).get("level", "high")
        return (f"waiting for a council review (risk {level}): agent-agency-cli task review {tid} "
                "--approve|--reject --reason ...")
    if s["status"] == "awaiting_approval":
        step = (s.get("approval") or {}).get("step") or "a step"
        return (f"waiting for approval of {step}: agent-agency-cli task approve {tid} | "
                f"agent-agency-cli task reject {tid} --reason ...")
    return None


_GATE_OK = tuple(GATE_OK)


def gate_summary(gates: list[dict[str, Any]]) -> str:
    """`code_style ✗ 0.90 (1 violation, advisory), security_scan ✓ 1.00`."""
    parts = []
    for g in gates:
        mark = "✓" if g.get("status") in _GATE_OK else "✗"
        score = f" {g['score']:.2f}" if g.get("score") is not None else ""
        notes = []
        n = len(g.get("violations") or [])
        if n:
            notes.append(f"{n} violation{'s' if n != 1 else ''}")
        if g.get("status") not in (*_GATE_OK, "failed"):
            notes.append(str(g.get("status")))
        if not g.get("required", True):
            notes.append("advisory")
        parts.append(f"{g.get('name') or g.get('gate')} {mark}{score}" + (f" ({', '.join(notes)})" if notes else ""))
    return ", ".join(parts)


def gate_lines(gates: list[dict[str, Any]]) -> list[str]:
    """One line per gate run (step, gate, status, score, violations, evidence) for status and result."""
    out = []
    for g in gates:
        n = len(g.get("violations") or [])
        score = f" score {g['score']:.2f}" if g.get("score") is not None else ""
        evidence = ", ".join(g.get("evidence") or []) or "-"
        out.append(f"  {g.get('step')}: {g.get('name') or g.get('gate')} {g.get('status')}{score}, "
                   f"{n} violation{'s' if n != 1 else ''}{'' if g.get('required', True) else ' (advisory)'}"
                   f"  evidence {evidence}")
    return out


def completion_lines(status: str, completion: dict[str, Any] | None) -> list[str]:
    """Why a task is partially_completed (or what the final review found): its gaps."""
    note = gaps_note(status, completion)
    if note is None:
        return []
    head, gaps = note
    return [f"{head}:", *(f"  - {g}" for g in gaps)]


def step_status_word(st: dict[str, Any], mode: str | None = None) -> str:
    """A step's status in words; a completed step whose gate failed is not plain `completed`,
    and a dry run's steps were only simulated."""
    if st["status"] == "completed" and mode == "dry-run":
        return "simulated"
    if st["status"] == "completed" and gate_failed(st):
        return "completed, gate failed"
    return str(st["status"])


def _step_cells(st: dict[str, Any], mode: str | None = None
                ) -> tuple[str, str, str, str, str, str]:
    """One step's cells: name, status, try, time, exit, detail (only what belongs to the
    step's current state: step_view)."""
    # No ★ here: piped, each cell is one word (`awk '{print $2}'` is the status); the
    # critical path is a line of its own above the table (status_lines).
    name = st["name"]
    active = st["status"] in ("running", "paused")
    detail = shown_reason(st) or (st["progress_message"] if active else "") or ""
    if st["status"] == "pending" and st.get("next_retry_at"):
        detail = f"retry at {_local_time(st['next_retry_at'])}: {detail}"
    if active and st["progress"] is not None:
        detail = f"{st['progress'] * 100:.0f}% {detail}".strip()
    if st.get("gates"):
        detail = f"{detail}  gates: {gate_summary(st['gates'])}".strip()
    detail = strip_controls(detail)
    code = shown_exit(st)
    return (
        name, step_status_word(st, mode),
        "{}/{}".format(*shown_tries(st)) if st["attempt"] else "-",
        format_duration(st["duration"]) if st["duration"] is not None else "-",
        "-" if code is None else str(code),
        detail,
    )


def steps_plain_lines(s: dict[str, Any]) -> list[str]:
    """The steps table as plain aligned lines (header first), linear in the step count."""
    rows: list[tuple[str, ...]] = [("step", "status", "try", "time", "exit", "detail")]
    rows.extend(_step_cells(st, s.get("mode")) for st in s["steps"])
    return table(rows, frozenset({2, 3, 4}))


def status_word(s: dict[str, Any]) -> str:
    """The task's status as one word; a finished dry run ran nothing and says so (`dry-run`);
    a task created with --hold and not released is `held`."""
    if s.get("held"):
        return "held"
    return "dry-run" if s.get("mode") == "dry-run" and s["status"] == "completed" else s["status"]


def status_lines(s: dict[str, Any], verbose: bool, gates: list[dict[str, Any]] | None = None) -> list[str]:
    """`task status`: the header, the steps table, the model lines, `gates` (the result's gate
    runs, with evidence), the final review's gaps and, with `verbose`, the plan, metrics, risk,
    requirements, timestamps, paths, failed attempts and the audit trail."""
    # Step output in reasons and messages must not drive the terminal (as cli/render.py):
    # the steps are stripped cell by cell (walking 100,000 of them whole costs seconds).
    s = {**strip_value({k: v for k, v in s.items() if k != "steps"}), "steps": s["steps"]}
    p = s["progress"]
    dry = s.get("mode") == "dry-run"
    lines = [f"{s['id']}  {one_line(s['description'])}   {s['mode']} · {s['priority']}"]
    lines.append(
        f"{status_word(s)}  {p['done']}/{p['total']} steps {p['percent']:.0f}%"
        + (f"  {format_duration(s['elapsed'])} elapsed" if s["elapsed"] is not None and not dry else "")
        + (f"  ETA {format_duration(s['eta'])}" if s.get("eta") is not None else ""))
    if dry and s["finished"]:
        lines.append("dry run: nothing was run; the plan was checked and reported")
    if s["deadline"]:
        lines.append(f"{'deadline passed' if s['deadline_passed'] else 'due'} {s['deadline']}")
    if s.get("stakeholders"):
        lines.append(f"stakeholders: {', '.join(s['stakeholders'])}")
    if s["reason"]:
        lines.append(f"reason: {one_line(s['reason'])}")
    note = waiting_note(s)
    if note:
        lines.append(note)
    critical = s["plan"]["critical_path"]
    if len(s["steps"]) > 1 and critical:
        lines.append(f"critical path: {', '.join(critical)}")
    lines.append("")
    before, after = selection_lines(s)
    lines.extend(before)
    if s["steps"] or not before:
        lines.extend(steps_plain_lines(s))
    lines.extend(after)
    from agent_agency_cli.cli.model_render import model_lines  # lazy: keeps start-up light

    lines.extend(model_lines(s))
    if gates:
        lines += ["", "gates", *gate_lines(strip_value(gates))]
    lines.extend(completion_lines(s["status"], s.get("completion")))
    if verbose:
        lines.extend(verbose_lines(s))
    return lines


# The order a summary counts the steps in: what is happening first.
_COUNT_ORDER = ("running", "paused", "awaiting_approval", "waiting_resources", "failed", "interrupted",
                "pending", "completed", "skipped", "cancelled")


def selection_lines(s: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The lines before and after the steps table when it holds a part of the steps (a summary
    or a page), saying what is shown and the command for the rest; nothing for every step."""
    shown = s.get("steps_shown") or {}
    selection = shown.get("selection", "all")
    if selection == "all":
        return [], []
    tid, total, count, offset = s["id"], shown["total"], shown["count"], shown["offset"]
    if selection == "page":
        if not count:
            return [f"no steps from position {offset} (the task has {total:,})"], []
        line = f"steps {offset + 1:,}-{offset + count:,} of {total:,}"
        if offset + count < total:
            line += f"; next page: agent-agency-cli task status {tid} --limit {count} --offset {offset + count}"
        return [], [line]
    by_status = s["progress"].get("by_status") or {}
    ordered = [k for k in _COUNT_ORDER if by_status.get(k)] + sorted(k for k in by_status if k not in _COUNT_ORDER)
    before = [f"{total:,} steps: " + ", ".join(f"{by_status[k]:,} {k}" for k in ordered)]
    notable = shown.get("notable", count)
    if not count:
        before.append("no step runs, waits or failed")
    more = f"the first {count} of {notable:,}" if notable > count else f"the {count}"
    after = ([f"shown: {more} running, waiting or failed steps"] if count else []) + [
        f"every step: agent-agency-cli task status {tid} --steps (a page: --limit N --offset N)"]
    return before, after


def verbose_lines(s: dict[str, Any]) -> list[str]:
    """`task status --verbose`'s sections (plan, metrics, risk, timestamps, paths, failed attempts,
    audit trail): one home for the plain and the terminal view."""
    plan = s["plan"]
    lines = ["", "plan"]
    lines.extend(f"  group {i + 1}: {', '.join(g)}" for i, g in enumerate(plan["parallel_groups"]))
    learned = plan.get("learned") or {}
    source = (f", estimated from up to {max(learned.values())} previous run(s) of "
              f"{len(learned)} step(s)" if learned else "")
    similar = [n for n, how in (plan.get("learned_from") or {}).items() if how == "similar steps"]
    if similar:
        source += f"; {', '.join(similar)} from similar steps (learning)"
    lines.append(f"  critical path: {' -> '.join(plan['critical_path'])}"
                 f"  (estimated {format_duration(plan['estimated_duration'])}{source})")
    metered = [st for st in s["steps"] if st.get("metrics")]
    if metered:
        lines.append("metrics")
        for st in metered:
            m = st["metrics"]
            peak = (m.get("rss_peak_bytes") or 0) / 1048576
            lines.append(f"  {st['name']}: cpu {m.get('cpu_percent_mean') or 0:.0f}% mean, "
                         f"{m.get('cpu_percent_max') or 0:.0f}% max; peak memory {peak:.1f} MiB; "
                         f"{m.get('samples')} samples" + (f"; worker {st['worker']}" if st.get("worker") else ""))
    if s.get("risk"):
        lines.append(f"risk: {s['risk']['level']} ({s.get('review_mode')} review) — "
                     + "; ".join(s["risk"].get("reasons", [])[:3]))
    lines.append(f"requirements: {', '.join(s['requirements']) or '-'}")
    lines.extend(f"{key.replace('_', ' ')}: {s[key] or '-'}"
                 for key in ("created_at", "started_at", "finished_at", "deadline"))
    lines.append(f"workspace: {s['workspace']}")
    if s["workdir"]:
        lines.append(f"workdir: {s['workdir']}")
    if s["plan_path"]:
        lines.append(f"plan file: {s['plan_path']}")
    retried = [a for a in s.get("attempts", []) if a["status"] != "completed"]
    if retried:
        lines += ["", "failed attempts"]
        lines.extend(f"  {a['step']} attempt {a['attempt']}: {a['status']} — {one_line(a['reason'] or '')}"
                     f" ({format_duration(a['duration'])})" for a in retried)
    if s.get("interventions"):
        lines += ["", "audit trail"]
        from agent_agency_cli.change_text import describe_changes, show_value  # lazy: keeps start-up light

        for iv in s["interventions"]:
            args = " ".join(describe_changes(v) if k == "changes" and isinstance(v, dict)
                            else f"{k}={show_value(k, v)}" for k, v in iv["args"].items())
            lines.append(f"  {iv['created_at']}  {iv['kind']} {args}  by {iv['who']} (pid {iv['pid']})"
                         f"  {iv['outcome'] or 'pending'}"
                         + (f"  reason: {one_line(iv['reason'])}" if iv["reason"] else ""))
    return lines

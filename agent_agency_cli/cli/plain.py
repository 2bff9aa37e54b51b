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
        rows.append((t["id"], t["status"], t["priority"], f"{p['done']}/{p['total']}",
                     format_duration(t["elapsed"]), format_duration(t["age"]), one_line(t["description"])))
    return table(rows, frozenset({3, 4, 5})) if tasks else []


def _local_time(ts: str | None) -> str:
    if not ts:
        return "-"
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")


def step_rows(s: dict[str, Any]) -> list[tuple[str, ...]]:
    """The steps table (header first): step (★ on the critical path), status, try, time, exit, detail."""
    critical = set(s["plan"]["critical_path"])
    rows: list[tuple[str, ...]] = [("step", "status", "try", "time", "exit", "detail")]
    for st in s["steps"]:
        active = st["status"] in ("running", "paused")
        detail = st["reason"] or (st["progress_message"] if active else "") or ""
        if st["status"] == "pending" and st.get("next_retry_at"):
            detail = f"retry at {_local_time(st['next_retry_at'])}: {detail}"
        if active and st["progress"] is not None:
            detail = f"{st['progress'] * 100:.0f}% {detail}".strip()
        rows.append((
            st["name"] + (" ★" if st["name"] in critical else ""), st["status"],
            f"{st['attempt']}/{st['max_attempts']}" if st["attempt"] else "-",
            format_duration(st["duration"]) if st["duration"] is not None else "-",
            "-" if st["exit_code"] is None else str(st["exit_code"]),
            one_line(strip_controls(detail)),
        ))
    return rows


def status_lines(s: dict[str, Any], verbose: bool) -> list[str]:
    """`task status`: the header, the steps table and, with `verbose`, the plan, metrics,
    risk, requirements, timestamps, paths, failed attempts and the audit trail."""
    # Step output in reasons and messages must not drive the terminal (as cli/render.py):
    # the steps are stripped cell by cell (walking 100,000 of them whole costs seconds).
    s = {**strip_value({k: v for k, v in s.items() if k != "steps"}), "steps": s["steps"]}
    p = s["progress"]
    lines = [f"{s['id']}  {one_line(s['description'])}   {s['mode']} · {s['priority']}"]
    lines.append(
        f"{s['status']}  {p['done']}/{p['total']} steps {p['percent']:.0f}%"
        + (f"  {format_duration(s['elapsed'])} elapsed" if s["elapsed"] is not None else "")
        + (f"  ETA {format_duration(s['eta'])}" if s.get("eta") is not None else ""))
    if s["deadline"]:
        lines.append(f"{'deadline passed' if s['deadline_passed'] else 'due'} {s['deadline']}")
    if s["reason"]:
        lines.append(f"reason: {one_line(s['reason'])}")
    lines.append("")
    lines.extend(table(step_rows(s), frozenset({2, 3, 4})))
    from agent_agency_cli.cli.model_render import model_lines

    lines.extend(model_lines(s))
    if verbose:
        lines.extend(_verbose_lines(s))
    return lines


def _verbose_lines(s: dict[str, Any]) -> list[str]:
    plan = s["plan"]
    lines = ["", "plan"]
    lines.extend(f"  group {i + 1}: {', '.join(g)}" for i, g in enumerate(plan["parallel_groups"]))
    learned = plan.get("learned") or {}
    source = (f", estimated from up to {max(learned.values())} previous run(s) of "
              f"{len(learned)} step(s)" if learned else "")
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
        for iv in s["interventions"]:
            args = " ".join(f"{k}={v}" for k, v in iv["args"].items())
            lines.append(f"  {iv['created_at']}  {iv['kind']} {args}  by {iv['who']} (pid {iv['pid']})"
                         f"  {iv['outcome'] or 'pending'}"
                         + (f"  reason: {one_line(iv['reason'])}" if iv["reason"] else ""))
    return lines

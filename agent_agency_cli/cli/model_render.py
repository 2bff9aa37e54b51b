"""Plain lines about models for `task status`, `task result` and `task plan`."""

from __future__ import annotations

from typing import Any

from agent_agency_cli.event_kinds import EventKind


def money(v: float | None) -> str:
    return f"${v:.6f}".rstrip("0").rstrip(".") if v else "$0"


def model_lines(s: dict[str, Any]) -> list[str]:
    """Each model step's model (selected, used, why), the task's model-call totals, and what the
    planner left out. Empty for a task without models or a planner."""
    lines: list[str] = []
    for st in s["steps"]:
        m = st.get("model")
        if not m:
            continue
        chain = " -> ".join([m["selected"], *m["fallbacks"]]) if m["selected"] else "-"
        used = f", answered by {m['used']}" if m.get("used") else ""
        lines.append(f"model {st['name']}: {chain}{used} ({m.get('reasoning') or 'selected'}); "
                     f"{m['calls']} call(s), {m['tokens_in']} tokens in, {m['tokens_out']} out, "
                     f"{money(m['cost'])}")
    mc = s.get("model_calls") or {}
    if mc.get("calls"):
        lines.append(f"model calls: {mc['calls']} ({mc['failed_calls']} failed), {mc['tokens_in']} tokens in, "
                     f"{mc['tokens_out']} out, cost {money(mc['cost'])}, {mc['latency']:.2f}s in calls")
    plan = s.get("plan") or {}
    if plan.get("source") and plan["source"] != "file":
        by = f" ({plan['planner_model']})" if plan.get("planner_model") else ""
        lines.append(f"plan: made by the {plan['source']} planner{by}")
    for note in plan.get("not_planned") or []:
        lines.append(f"not planned: {note}")
    return lines


def event_line(t: str, step: str | None, kind: str, p: dict[str, Any]) -> str | None:
    """Plain lines for model events (None: not a model event)."""
    if kind == EventKind.MODEL_SELECTED:
        fb = f", fallbacks {', '.join(p['fallbacks'])}" if p.get("fallbacks") else ""
        return f"{t}  {step}  model {p.get('model')}{fb} ({p.get('reasoning')})"
    if kind == EventKind.MODEL_RETRY:
        return f"{t}  {step}  {p.get('model')}: {p.get('reason')}; retry {p.get('retry')} in {p.get('delay'):.2f}s"
    if kind == EventKind.MODEL_FALLBACK:
        return f"{t}  {step}  model {p.get('from')} -> {p.get('to')}: {p.get('reason')}"
    if kind == EventKind.MODEL_REPAIR:
        return f"{t}  {step}  {p.get('model')}: answer not the JSON asked for; repairing"
    if kind == EventKind.MODEL_SWAPPED:
        return f"{t}  {step}  model {p.get('old')} -> {p.get('new')} (hot-swap by {p.get('who')})"
    if kind == EventKind.TASK_PLANNED:
        by = f" ({p['model']})" if p.get("model") else ""
        return f"{t}  planned by the {p.get('source')} planner{by}: {p.get('steps')} steps"
    return None
